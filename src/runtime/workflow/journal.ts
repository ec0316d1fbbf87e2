import type { RunOptions, RunAttempt } from "../../define/workflow.ts";
import { isStoreUnavailable } from "../../define/errors.ts";
import { isPermanent } from "./record.ts";
import type { InstanceWrite, Store } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import type { StepCall } from "../held-writes.ts";

/** Journaled results are kept as idempotency records of this pseudo-component (never a feed entry). */
export const journalComponent = "$journal";

/**
 * What a step execution made durable on its own, as its journal's mark says: a call (its target
 * and command) or a timer change. An operator undoing a step done in part by hand reads these.
 */
export type KeptEffect =
  | { call: KeptCallEffect }
  | { timer: { name: string; change: "started" | "cancelled"; dueAt?: number; call?: KeptCallEffect } };

/** A call as the journal keeps it: its input too, when its JSON is at most 2 KB (else its size, `inputBytes`). */
export type KeptCallEffect = { component: string; id: string; command: string; input?: unknown; inputBytes?: number };

const inputKeptUpTo = 2_048;

/** `call` as the journal keeps it (see KeptCallEffect). */
export function keptCall(component: string, id: string, command: string, input: unknown): KeptCallEffect {
  const bytes = Buffer.byteLength(JSON.stringify(input ?? null));
  return bytes <= inputKeptUpTo ? { component, id, command, input } : { component, id, command, inputBytes: bytes };
}

/**
 * The journal write that records, durably, that `call` (of step `step`, under its execution's key)
 * took effect on its own: it commits with the call's write, all or none.
 */
export function keptMarker(workflow: string, id: string, step: string, call: StepCall, at: number): InstanceWrite {
  return keptMark(workflow, id, call.key, step, { call: keptCall(call.component, call.id, call.command, call.input) }, at);
}

/** The journal's mark that what `key` names (under a step execution's key) took effect: `effect`, in step `step`. */
function keptMark(workflow: string, id: string, key: string, step: string, effect: KeptEffect, at: number): InstanceWrite {
  return { component: journalComponent, id: `${workflow}/${id}`, dedup: [{ key: `${key}:kept`, requestHash: "kept", reply: { ok: true, value: { step, ...effect } }, at, ifAbsent: true }] };
}

/** Commits a journal mark: the group committer's `submit` where there is one, so marks share commits. */
export type CommitsMark = (write: InstanceWrite) => Promise<unknown>;

/**
 * Records that `effect`, part of a step execution, took effect where its mark could not commit
 * with it (keptMarker covers the rest): a timer started or cancelled, a call answered from the
 * record an earlier run kept (its mark may have been lost with that run), or any call on a store
 * that cannot commit two instances together. `key` names it under the execution's key. It is
 * written just after the effect: a crash in that moment still loses it.
 */
export function markKept(commit: CommitsMark, workflow: string, id: string, key: string, step: string, effect: KeptEffect, at: number): void {
  commit(keptMark(workflow, id, key, step, effect, at)).catch(() => {
    // Best effort: the attempt itself knows (StepFailure.partial); only a crash's re-run reads the mark.
  });
}

/**
 * Whether the step execution `stepKey` has anything journaled: a `ctx.run` result, or a call kept
 * on its own (keptMarker). False when the store cannot say (the failure being recorded then
 * likely cannot be either, and the step runs again).
 */
export async function journaledEffects(store: Store, workflow: string, id: string, stepKey: string): Promise<boolean> {
  try {
    const [first] = await store.listDedup(journalComponent, `${workflow}/${id}`, `${stepKey}:`, 1);
    return first !== undefined && first.key.startsWith(`${stepKey}:`);
  } catch {
    return false;
  }
}

const defaults = { maxAttempts: 3, initialBackoffMs: 200, maxBackoffMs: 5_000 };

/**
 * `ctx.run`: one journaled side effect of a step execution. Its key is
 * `{stepKey}:run:{name}:{occurrence}` — the same on every re-run of this step execution. If a
 * result is journaled under it, that result is returned and `fn` is not called. Otherwise `fn`
 * runs (with its own retries), and its result is committed under the key before it is returned,
 * so the step's transition, committed later, can never be stored without it.
 *
 * At-least-once: a crash (or a step timeout) after `fn` started and before its result was
 * committed runs `fn` again on the re-run, with the same idempotency key, which the outside system
 * should use to de-duplicate. Failures are not journaled: a step attempt that fails runs `fn`
 * again. Exactly once, from the step's view: once a result is committed, no re-run of this step
 * execution calls again. Results are kept while the workflow is not over (running, paused,
 * suspended or failed, however long), and after it ended as long as idempotency records.
 */
export class Journal {
  private readonly occurrences = new Map<string, number>();
  /** `ctx.run`s started and not yet journaled or failed: their outside effect may have happened. */
  private running = 0;
  /** Told when `running` is back at 0 (see settled). */
  private idle: Array<() => void> = [];
  /** Aborted when the step attempt ends without its runs (abort). */
  private readonly ending = new AbortController();
  /** A run was under way when the attempt ended (abort). */
  private cutShort = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly workflow: string,
    private readonly id: string,
    private readonly stepKey: string,
    private readonly closed: () => boolean,
    /** Told when a result is journaled, or found journaled: the step then took effect in part. */
    private readonly kept: () => void = () => {},
  ) {}

  async run<T>(name: string, fn: (attempt: RunAttempt) => Promise<T> | T, options: RunOptions = {}): Promise<T> {
    if (typeof name !== "string" || name === "") throw new TypeError("ctx.run needs a name");
    const occurrence = this.occurrences.get(name) ?? 0;
    this.occurrences.set(name, occurrence + 1);
    const key = `${this.stepKey}:run:${name}:${occurrence}`;
    const instance = `${this.workflow}/${this.id}`;
    const stored = await this.store.findDedup(journalComponent, instance, key);
    if (stored && stored.reply.ok) {
      this.kept();
      return stored.reply.value as T;
    }
    this.running++;
    try {
      return await this.runAndJournal(key, instance, name, fn, options);
    } finally {
      if (--this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /**
   * The step attempt ended without its runs: their signal is aborted. A run under way then counts
   * as in flight however it ends now: aborting the wait does not take back a call already sent.
   */
  abort(): void {
    if (this.running > 0) this.cutShort = true;
    this.ending.abort(new Error("the step attempt ended (timed out or terminated)"));
  }

  /** Resolves once no `ctx.run` of this attempt is under way (its result journaled, or failed for good). */
  settled(): Promise<void> {
    return this.running === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  /** Whether a `ctx.run` is under way, or was when the attempt ended: the step may have had its outside effect. */
  get inFlight(): boolean {
    return this.running > 0 || this.cutShort;
  }

  private async runAndJournal<T>(key: string, instance: string, name: string, fn: (attempt: RunAttempt) => Promise<T> | T, options: RunOptions): Promise<T> {
    const maxAttempts = options.maxAttempts ?? defaults.maxAttempts;
    let backoff = options.initialBackoffMs ?? defaults.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      if (this.closed()) throw new Error(`ctx.run("${name}"): this run timed out`);
      let result: T;
      try {
        result = await fn({ idempotencyKey: key, attempt, signal: this.ending.signal });
      } catch (error) {
        // A refusal (a 4xx SagaflowError that is not retryable) is an answer: asking again changes nothing.
        if (attempt >= maxAttempts || isPermanent(error) || this.closed()) throw error;
        await new Promise<void>((resolve) => this.clock.schedule(backoff, resolve));
        backoff = Math.min(backoff * 2, options.maxBackoffMs ?? defaults.maxBackoffMs);
        continue;
      }
      // undefined is not JSON: journal it as null and give back what the call gave.
      const value = result === undefined ? null : result;
      await this.commit(instance, key, value);
      this.kept();
      return result;
    }
  }

  private async commit(instance: string, key: string, value: unknown): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        const [outcome] = await this.store.commit([
          { component: journalComponent, id: instance, dedup: [{ key, requestHash: "run", reply: { ok: true, value }, at: this.clock.now() }] },
        ]);
        if (outcome?.ok === false && outcome.reason !== "conflict") throw new Error(`journaling ctx.run result: ${outcome.reason}`);
        return;
      } catch (error) {
        // The call succeeded: losing its result to a short outage would call again; wait a little.
        if (!isStoreUnavailable(error) || tries >= 20) throw error;
        await new Promise<void>((resolve) => this.clock.schedule(250, resolve));
      }
    }
  }
}
