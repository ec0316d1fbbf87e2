import { SagaflowError } from "../../define/errors.ts";
import type { DeferredCall } from "../../define/handlers.ts";
import type { ScheduleDefinition } from "../../define/schedule.ts";
import type { ServiceComponent } from "../../define/service.ts";
import { LeaseLostError, type Fence } from "../../store/cluster-port.ts";
import type { Store } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import type { KeyedCall } from "../dispatcher.ts";
import { copyInput } from "../json-copy.ts";
import { WakeSignal } from "../wake-signal.ts";
import { CronTicks } from "./cron-ticks.ts";

export interface ScheduleHost {
  store: Store;
  clock: Clock;
  log: (line: string) => void;
  keyedCall: KeyedCall;
}

/** What `GET /schedules` shows of one schedule. */
export interface ScheduleReport {
  name: string;
  cron: string;
  timeZone: string;
  missed: "skip" | "catch-up";
  target: string;
  paused: boolean;
  /** The last tick fired or skipped (epoch ms), null before the first. */
  lastTick: number | null;
  nextTick: number | null;
  /** Why its last tick could not fire, while it is tried again (on the node running the schedules; null elsewhere). */
  lastError: string | null;
}

const defaultGraceMs = 1_000;
/** The latest a tick due while this node ran the schedules still fires (see tick()). */
const maxLateMs = 60_000;
const maxSleepMs = 1_000;
/** The longest a failing schedule waits before its tick is tried again (doubling from 1 s). */
const maxRetryDelayMs = 30_000;

/*
 * Durable state, in the consumer-offset table (a number per name, raised only):
 *   `schedule:{name}`        the last tick handled (fired or skipped), epoch ms;
 *   `schedule-paused:{name}` a counter bumped by each pause and resume: odd means paused.
 */
const tickKey = (name: string) => `schedule:${name}`;
const pausedKey = (name: string) => `schedule-paused:${name}`;
/** When the last node running the schedules stopped gracefully (epoch ms): its successor goes on from there. */
const handedOverKey = "schedules-handed-over";
/** The longest gap after a graceful stop in which ticks still count as due while a node ran (a rolling restart). */
const handoverWindowMs = 30_000;

/**
 * Fires the service's cron schedules on the node holding lease `schedules`. Each tick's call is
 * keyed `schedule:{name}:{tick}`, then the tick is stored: a crash in between fires it again and
 * the key makes that change nothing, so every tick fires once even when a lease moves.
 */
export class ScheduleService {
  private readonly schedules = new Map<string, { definition: ScheduleDefinition; ticks: CronTicks }>();
  private running = false;
  private fence: Fence | undefined;
  private loop: Promise<void> | undefined;
  private readonly wakeSignal = new WakeSignal();
  /** When this node began running the schedules: only ticks due before it were missed. */
  private runningSince = 0;
  /** Schedules whose tick failed (a throwing target, input or `call` function): tried again after a pause, alone. */
  private readonly failing = new Map<string, { retryAt: number; failures: number; error: string }>();

  constructor(components: readonly ServiceComponent[], private readonly host: ScheduleHost) {
    for (const c of components) {
      if (c.kind === "schedule") this.schedules.set(c.name, { definition: c, ticks: new CronTicks(c.options, c.name) });
    }
  }

  get any(): boolean {
    return this.schedules.size > 0;
  }

  async begin(fence?: Fence): Promise<void> {
    this.fence = fence;
    const now = this.host.clock.now();
    // Taken over from a node that stopped gracefully moments ago (a rolling restart): the ticks in
    // between are late, not missed — only a crash leaves a gap of "no node ran them".
    const handedOverAt = await this.host.store.loadOffset(handedOverKey);
    this.runningSince = now - handedOverAt <= handoverWindowMs ? Math.min(now, handedOverAt) : now;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    this.wakeSignal.wake();
    await this.loop;
    if (!wasRunning) return;
    // Said for the next node (a graceful stop, or the lease given to a node that joined: it is
    // released after this); with the lease lost already (expired, taken), there is nothing to hand over.
    await this.host.store.commitConsumer(handedOverKey, this.host.clock.now(), [], [], this.fence).catch(() => {});
  }

  async report(): Promise<{ schedules: ScheduleReport[] }> {
    const now = this.host.clock.now();
    const schedules = await Promise.all([...this.schedules.values()].map(async ({ definition, ticks }): Promise<ScheduleReport> => {
      const { options } = definition;
      const last = await this.host.store.loadOffset(tickKey(definition.name));
      const paused = (await this.host.store.loadOffset(pausedKey(definition.name))) % 2 === 1;
      return {
        name: definition.name,
        cron: options.cron,
        timeZone: options.timeZone ?? "UTC",
        missed: options.missed ?? "skip",
        target: options.start ? `start ${options.start.workflow.name}` : typeof options.call === "function" ? "call (per tick)" : `${options.call!.component}/${options.call!.id}/${options.call!.handler}`,
        paused,
        lastTick: last === 0 ? null : last,
        nextTick: paused ? null : (ticks.next(Math.max(last, now)) ?? null),
        lastError: this.failing.get(definition.name)?.error ?? null,
      };
    }));
    return { schedules };
  }

  /** Pauses or resumes a schedule (any node: the state is in the store). Ticks while paused are skipped. */
  async setPaused(name: string, paused: boolean): Promise<ScheduleReport> {
    if (!this.schedules.has(name)) throw new SagaflowError("not_found", `no schedule named "${name}"`, { status: 404 });
    const counter = await this.host.store.loadOffset(pausedKey(name));
    if ((counter % 2 === 1) !== paused) {
      // Resuming: what passed while paused is not caught up.
      if (!paused) await this.host.store.commitConsumer(tickKey(name), this.host.clock.now(), []);
      await this.host.store.commitConsumer(pausedKey(name), counter + 1, []);
    }
    this.wakeSignal.wake();
    return (await this.report()).schedules.find((s) => s.name === name)!;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let wakeAt = this.host.clock.now() + maxSleepMs;
      try {
        for (const entry of this.schedules.values()) {
          if (!this.running) break; // stopping: the rest are handled at the next start, or on another node
          const next = await this.tickAlone(entry.definition, entry.ticks);
          if (next !== undefined) wakeAt = Math.min(wakeAt, next);
        }
      } catch (error) {
        if (error instanceof LeaseLostError) {
          this.host.log(`sagaflow: schedules: ${error.message}; stopping here`);
          this.running = false;
          return;
        }
        this.host.log(`sagaflow: schedules: ${String(error)}; retrying`);
      }
      await new Promise<void>((resolve) => {
        let done = false;
        const finish = () => {
          if (!done) (done = true), resolve();
        };
        this.host.clock.schedule(Math.max(0, wakeAt - this.host.clock.now()), finish);
        void this.wakeSignal.sleep(maxSleepMs).then(finish);
      });
    }
  }

  /**
   * One schedule's turn, its failure kept to itself: a tick that fails is tried again after a pause
   * (1 s, doubling up to 30 s; one over a minute late then counts as missed), and the other
   * schedules go on firing meanwhile. Returns when it wants its next turn.
   */
  private async tickAlone(definition: ScheduleDefinition, ticks: CronTicks): Promise<number | undefined> {
    const { name } = definition;
    const failing = this.failing.get(name);
    if (failing && failing.retryAt > this.host.clock.now()) return failing.retryAt;
    try {
      const next = await this.tick(definition, ticks);
      this.failing.delete(name);
      return next;
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      const failures = (failing?.failures ?? 0) + 1;
      const delayMs = Math.min(1_000 * 2 ** (failures - 1), maxRetryDelayMs);
      const retryAt = this.host.clock.now() + delayMs;
      this.failing.set(name, { retryAt, failures, error: String(error) });
      this.host.log(`sagaflow: schedule ${name}: ${String(error)}; trying again in ${delayMs / 1000} s (the other schedules go on)`);
      return retryAt;
    }
  }

  /** Fires what is due of one schedule; returns when its next tick is. */
  private async tick(definition: ScheduleDefinition, ticks: CronTicks): Promise<number | undefined> {
    const { name, options } = definition;
    const { store, clock } = this.host;
    const now = clock.now();
    if ((await store.loadOffset(pausedKey(name))) % 2 === 1) return undefined;
    let last = await store.loadOffset(tickKey(name));
    if (last === 0) {
      // First start ever: nothing before it is due.
      await store.commitConsumer(tickKey(name), now, [], [], this.fence);
      last = now;
    }
    const due = ticks.between(last, now);
    if (due.length > 0) {
      const grace = options.graceMs ?? defaultGraceMs;
      // Missed: due, past their grace, before this node ran the schedules (no node ran them), or
      // more than `maxLateMs` ago (the store away for hours must not bring thousands of ticks at
      // once). A tick due since is only late — this node was firing many others — and fires.
      // With catch-up, the latest missed tick still fires, once.
      const isMissed = (t: number) => this.runningSince - t > grace || now - t > Math.max(grace, maxLateMs);
      const missed = due.filter(isMissed);
      const late = due.filter((t) => !isMissed(t));
      const fire = options.missed === "catch-up" && missed.length > 0 ? [missed.at(-1)!, ...late] : late;
      if (missed.length > 0) {
        this.host.log(
          `sagaflow: schedule ${name}: ${missed.length} tick(s) missed (due while no node ran schedules, or over a minute ago); ${options.missed === "catch-up" ? "caught up once" : "skipped"}`,
        );
      }
      // Stored as handled: what fired, and with skip the missed ticks (catch-up fires its one first).
      let handled = options.missed === "catch-up" ? last : (missed.at(-1) ?? last);
      for (const at of fire) {
        if (!this.running) break;
        await this.fire(definition, at);
        handled = at;
      }
      await store.commitConsumer(tickKey(name), handled, [], [], this.fence);
      last = handled;
    }
    return ticks.next(Math.max(last, now));
  }

  private async fire(definition: ScheduleDefinition, at: number): Promise<void> {
    const { name, options } = definition;
    const tick = { schedule: name, at };
    const key = `schedule:${name}:${at}`;
    let call: DeferredCall;
    if (options.start) {
      call = { component: options.start.workflow.name, id: `${name}-${new Date(at).toISOString()}`, handler: "start", input: options.start.input(tick) };
    } else {
      call = typeof options.call === "function" ? options.call(tick) : options.call!;
    }
    // A copy: a fixed input of the definition must not become part of (frozen with) a state.
    const reply = await this.host.keyedCall(call.component, call.id, call.handler, copyInput(call.input, call.component, call.handler), key);
    if (!reply.ok) this.host.log(`sagaflow: schedule ${name}: the tick at ${new Date(at).toISOString()} was refused: ${reply.code}: ${reply.message}`);
  }
}
