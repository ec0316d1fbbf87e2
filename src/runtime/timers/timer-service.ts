import { errors, isNotTheWorksFault, isRefusal, SagaflowError } from "../../define/errors.ts";
import type { DeferredCall, Timers } from "../../define/handlers.ts";
import type { Store, TimerChange, TimerRecord } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import { checkId } from "../ids.ts";
import { describeError } from "../workflow/record.ts";
import { LeaseLostError, type Fence } from "../../store/cluster-port.ts";
import type { Dispatcher } from "../dispatcher.ts";
import { logEvent } from "../../observe/log-event.ts";
import { timerBucket } from "../../store/buckets.ts";
import { leftForAnotherNodeMs } from "../workflow/undefined-step.ts";

export interface TimerHost {
  store: Store;
  clock: Clock;
  log: (line: string) => void;
  /** Makes a timer's call with its idempotency key. */
  call: Dispatcher["keyedCall"];
  /** Rejects a deferred call before it is stored unless it names a known component and handler that accepts its input. */
  check(call: DeferredCall): Promise<void>;
  /** Wraps each firing (metrics: how late; a span linked to the work that started the timer). */
  firing?<T>(timer: TimerRecord, run: () => Promise<T>): Promise<T>;
  /** The `traceparent` of the work starting a timer, kept with it (tracing only). */
  currentTrace?(): string | undefined;
  /**
   * Whether this node's lease of a timer bucket is valid now (several nodes). One whose renewal is
   * late has lapsed before the membership says it is lost: its timers are left alone meanwhile,
   * since another node may take the bucket and fire them. Absent: every bucket begun is held.
   */
  holdsBucket?(bucket: number): boolean;
}

export interface TimerPolicy {
  /** Firings of one timer before it is parked. Default 10. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Timers fired at once. Default 256. */
  batch: number;
  /**
   * How often to look for the earliest due time anyway: the safety net for a wake-up lost in
   * process, a wall clock set forward, or (several nodes) a missed signal from the node that
   * started a timer. Default 2,000 ms; one indexed `min(due_at)`.
   */
  pollMs: number | undefined;
}

/**
 * The call names a component or command this node's code does not define. Timers are checked when
 * started, so other code started it: a newer version (a rolling deploy, or after a rollback).
 */
function targetMissingHere(error: unknown): error is SagaflowError {
  return error instanceof SagaflowError && (error.code === "unknown_component" || error.code === "unknown_command");
}

/**
 * The target's input schema refuses the timer's input. A timer's input is checked when it is
 * started, so the schema changed since (new code, or a rollback): trying again cannot help. The
 * timer is parked at once, for an operator to retry (`sagaflow timers retry`) once the code
 * accepts it, or to cancel — never taken for an answer, which would drop the call.
 */
function inputRefusedNow(error: unknown): error is SagaflowError {
  return error instanceof SagaflowError && error.code === "invalid_input";
}

/** Timers as the engine's parts use them: a start may name the key its call carries (TimerService.start). */
export interface StartsTimers extends Timers {
  start(name: string, delayMs: number, call: DeferredCall, callKey?: string): Promise<void>;
  /** `cancel`, saying whether there was a timer to remove. */
  remove(name: string): Promise<boolean>;
}

const defaults: TimerPolicy = { maxAttempts: 10, initialBackoffMs: 200, maxBackoffMs: 60_000, batch: 256, pollMs: 2_000 };
const maxNameLength = 512;

/**
 * Durable timers: kept in the store, fired at least once and never before they are due. One
 * clock callback waits for the earliest due time; starting an earlier timer moves it. A call
 * that fails for a reason that may pass is retried with back-off, then the timer is parked.
 * A refusal (a domain error) is an answer: the timer is done. A target this node's code lacks
 * (a newer version started the timer) is no answer: the timer is left pending for code that has it.
 *
 * Timers are split into buckets by a hash of their name (src/store/buckets.ts); a node fires
 * those of the buckets whose lease it holds (`timers/{bucket}`), so several nodes share them.
 */
export class TimerService implements Timers {
  private readonly policy: TimerPolicy;
  private wakeUp: { at: number; handle: { cancel(): void } } | undefined;
  private firing: Promise<void> | undefined;
  private again = false;
  private running = false;
  /** The buckets this node fires, each with its lease's fence (undefined on a single node). */
  private readonly held = new Map<number, Fence | undefined>();
  private poll: NodeJS.Timeout | undefined;
  /** Timers (name and generation) whose missing target this process has warned about. */
  private readonly warnedMissing = new Set<string>();

  constructor(
    private readonly host: TimerHost,
    policy: Partial<TimerPolicy> = {},
  ) {
    // An undefined pollMs keeps the default: the net is never switched off.
    this.policy = { ...defaults, ...policy, pollMs: policy.pollMs ?? defaults.pollMs };
  }

  /** Starts firing the due timers of `bucket` (on several nodes: this node holds its lease, with `fence`). */
  async begin(bucket: number, fence?: Fence): Promise<void> {
    this.held.set(bucket, fence);
    if (!this.running) {
      this.running = true;
      if (this.policy.pollMs !== undefined) {
        this.poll = setInterval(() => void this.rearm().catch(() => {}), this.policy.pollMs);
        this.poll.unref();
      }
    }
    await this.rearm();
  }

  /** Stops firing the timers of `bucket` (its lease is gone); a firing under way is fenced off. */
  release(bucket: number): void {
    this.held.delete(bucket);
    if (this.held.size === 0) this.stop();
  }

  stop(): void {
    this.running = false;
    this.held.clear();
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
    this.wakeUp?.handle.cancel();
    this.wakeUp = undefined;
  }

  /** Another node started a timer due at `at`, of `bucket` (absent: a node that did not say). */
  remind(at: number, bucket?: number): void {
    if (bucket === undefined || this.held.has(bucket)) this.armAt(at);
  }

  /** Resolves once no firing is in progress. */
  async idle(): Promise<void> {
    while (this.firing) await this.firing;
  }

  /**
   * `callKey`: the key of the code starting it (a step's execution, a consumer's message), under
   * which its call is made, so that this code running again changes the target once however many
   * timers it starts (see TimerRecord.callKey).
   */
  async start(name: string, delayMs: number, call: DeferredCall, callKey?: string): Promise<void> {
    if (typeof name !== "string" || name.length === 0 || name.length > maxNameLength) {
      throw errors.invalidInput(`a timer name must be 1 to ${maxNameLength} characters`);
    }
    if (!Number.isFinite(delayMs) || delayMs < 0) throw errors.invalidInput("a timer delay must be a number of ms ≥ 0");
    checkId(call.id);
    await this.host.check(call);
    const now = this.host.clock.now();
    const trace = this.host.currentTrace?.();
    const timer = await this.host.store.putTimer({ name, dueAt: now + delayMs, ...call, createdAt: now, ...(trace ? { trace } : {}), ...(callKey ? { callKey } : {}) });
    // Another node's bucket: the store told that node (several nodes), which fires it.
    if (this.held.has(timerBucket(name))) this.armAt(timer.dueAt);
  }

  async cancel(name: string): Promise<void> {
    await this.remove(name);
  }

  remove(name: string): Promise<boolean> {
    return this.host.store.cancelTimer(name);
  }

  /**
   * An operator's retry of a parked timer, once its cause is fixed: pending again, due now, with
   * its attempts from zero. False when no timer of that name is parked.
   */
  async retryParked(name: string): Promise<boolean> {
    const timer = await this.host.store.unparkTimer(name, this.host.clock.now());
    if (timer === undefined) return false;
    if (this.held.has(timerBucket(name))) this.armAt(timer.dueAt);
    return true;
  }

  private async rearm(): Promise<void> {
    if (!this.running) return;
    const buckets = this.validBuckets();
    if (buckets.length === 0) return;
    const next = await this.host.store.nextTimerDue(buckets);
    if (next !== undefined) this.armAt(next);
  }

  /** The buckets begun here whose leases are valid now (a lapsed one waits for its renewal, or its loss; the poll looks again). */
  private validBuckets(): number[] {
    const buckets = [...this.held.keys()];
    return this.host.holdsBucket ? buckets.filter((bucket) => this.host.holdsBucket!(bucket)) : buckets;
  }

  /**
   * Makes sure the clock wakes us by `at`: a wall-clock due time, turned into a wait on the
   * monotonic clock here (`at - now()`); whoever is woken asks the store what is due by then.
   */
  private armAt(at: number): void {
    if (!this.running) return;
    // Due already (a wall clock set forward, a wake-up lost): fire now, whatever is armed.
    if (at <= this.host.clock.now()) {
      this.wakeUp?.handle.cancel();
      this.wakeUp = undefined;
      this.fire();
      return;
    }
    if (this.wakeUp && this.wakeUp.at <= at) return;
    this.wakeUp?.handle.cancel();
    const handle = this.host.clock.schedule(at - this.host.clock.now(), () => {
      this.wakeUp = undefined;
      this.fire();
    });
    this.wakeUp = { at, handle };
  }

  private fire(): void {
    if (this.firing) {
      this.again = true;
      return;
    }
    this.firing = this.fireDue()
      .catch((error: unknown) => this.host.log(`sagaflow: timers: ${String(error)}`))
      .finally(() => {
        this.firing = undefined;
        if (this.again) {
          this.again = false;
          this.fire();
        } else {
          void this.rearm().catch((error: unknown) => this.host.log(`sagaflow: timers: ${String(error)}`));
        }
      });
  }

  private async fireDue(): Promise<void> {
    for (;;) {
      if (!this.running) return;
      const buckets = this.validBuckets();
      if (buckets.length === 0) return;
      const due = await this.host.store.dueTimers(this.host.clock.now(), this.policy.batch, buckets);
      const fired = (await Promise.all(due.map((timer) => this.fireOne(timer)))).filter((t) => t !== undefined);
      // One transaction (one fsync) removes every timer of the batch that fired, each bucket's
      // under its own lease.
      if (fired.length > 0) {
        const fences = this.fences();
        for (const bucket of await this.host.store.finishTimers(fired, fences)) this.lostBucket(bucket, fences?.get(bucket));
      }
      if (due.length < this.policy.batch) return;
    }
  }

  /** The fences of the held buckets, by bucket; undefined on a single node (nothing to fence). */
  private fences(): Map<number, Fence> | undefined {
    const fences = new Map<number, Fence>();
    for (const [bucket, fence] of this.held) if (fence !== undefined) fences.set(bucket, fence);
    return fences.size === 0 ? undefined : fences;
  }

  /**
   * The store found the bucket's lease, at the token of `fence`, taken by another node: stop
   * firing its timers here (the membership tells us too, at its next round), unless the bucket
   * was taken again meanwhile. What this node fired is made good by its keys.
   */
  private lostBucket(bucket: number, fence: Fence | undefined): void {
    if (!this.held.has(bucket) || this.held.get(bucket) !== fence) return;
    this.host.log(`sagaflow: timers: bucket ${bucket} is another node's now; its timers are left to it`);
    this.release(bucket);
  }

  /** Makes the timer's call; returns the timer when it is done (fired, or answered with a refusal). */
  private fireOne(timer: TimerRecord): Promise<TimerRecord | undefined> {
    return this.host.firing ? this.host.firing(timer, () => this.fireCall(timer)) : this.fireCall(timer);
  }

  private async fireCall(timer: TimerRecord): Promise<TimerRecord | undefined> {
    // createdAt too: a name finished and started again may get generation 1 again.
    const key = timer.callKey ?? `timer:${timer.name}:${timer.createdAt}:${timer.generation}`;
    let failure: unknown;
    try {
      const reply = await this.host.call(timer.component, timer.id, timer.handler, timer.input, key);
      if (!reply.ok) this.host.log(`sagaflow: timer ${timer.name} fired; ${timer.component}.${timer.handler} refused: ${reply.code}`);
    } catch (error) {
      if (targetMissingHere(error)) return this.leaveForNewerCode(timer, error);
      if (!isRefusal(error) || inputRefusedNow(error)) failure = error;
      else this.host.log(`sagaflow: timer ${timer.name}: ${describeError(error, "handler").message}`);
    }
    if (failure === undefined) return timer;
    // The database out of reach is not the call's failure: fire again after the first back-off,
    // using up no attempt (an outage must not park timers).
    const attempts = isNotTheWorksFault(failure) ? timer.attempts : timer.attempts + 1;
    const parked = attempts >= this.policy.maxAttempts || inputRefusedNow(failure);
    const backoff = Math.min(this.policy.maxBackoffMs, this.policy.initialBackoffMs * 2 ** Math.max(0, attempts - 1));
    const kept = await this.reschedule(timer, { dueAt: this.host.clock.now() + backoff, attempts, status: parked ? "parked" : "pending", lastError: describeError(failure, "handler") });
    if (kept && parked) {
      const error = describeError(failure, "handler");
      const fields = { event: "timer_parked", timer: timer.name, component: timer.component, id: timer.id, handler: timer.handler, attempts, error_code: error.code, error_message: error.message };
      logEvent(this.host.log, "warn", fields,
        `sagaflow: WARNING: timer ${timer.name} (${timer.component} "${timer.id}" ${timer.handler}) parked after ${attempts} attempt(s): ` +
          `${error.code}: ${error.message}; once the cause is fixed: \`sagaflow timers retry ${timer.name}\` (or \`cancel\`)`,
      );
    }
    return undefined;
  }

  /**
   * The call's component or command is not defined by this node's code: newer code started the
   * timer (a rolling deploy; a rollback). Not an answer, nor the call's failure: the timer stays
   * pending, due again in `leftForAnotherNodeMs` with no attempt used, for a node whose code has
   * the target (or this one, once it runs such code); said once per timer in this process.
   */
  private async leaveForNewerCode(timer: TimerRecord, error: SagaflowError): Promise<undefined> {
    const change = { dueAt: this.host.clock.now() + leftForAnotherNodeMs, attempts: timer.attempts, status: "pending" as const, lastError: describeError(error, "handler") };
    if (!(await this.reschedule(timer, change))) return undefined;
    const said = `${timer.name}\n${timer.createdAt}\n${timer.generation}`;
    if (!this.warnedMissing.has(said)) {
      if (this.warnedMissing.size >= 10_000) this.warnedMissing.clear();
      this.warnedMissing.add(said);
      this.host.log(
        `sagaflow: WARNING: timer ${timer.name} calls ${timer.component} "${timer.id}" ${timer.handler}, which this node's code does not define ` +
          `(${error.code}): left pending for code that does (a newer version started it: nodes running different versions, or a rollback?); ` +
          `due again every ${leftForAnotherNodeMs / 1000} s, using up no attempt. Nothing of it runs here.`,
      );
    }
    return undefined;
  }

  /** Stores a firing's outcome under the bucket's fence; false when the bucket's lease was lost meanwhile (its new holder fires it). */
  private async reschedule(timer: TimerRecord, change: TimerChange): Promise<boolean> {
    const bucket = timerBucket(timer.name);
    const fence = this.held.get(bucket);
    try {
      await this.host.store.retryTimer(timer.name, timer.generation, change, fence);
      return true;
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
      this.lostBucket(bucket, fence);
      return false;
    }
  }
}

/**
 * Timers whose calls carry keys of `prefix` (a step execution's `wf:…`, a consumer message's
 * `consumer:…`): the code running again starts them again, and their targets change once.
 */
export function keyedTimers(timers: StartsTimers, prefix: string): Timers {
  return {
    start: (name, delayMs, call) => timers.start(name, delayMs, call, `timer:${prefix}:timer:${name}`),
    cancel: (name) => timers.cancel(name),
  };
}
