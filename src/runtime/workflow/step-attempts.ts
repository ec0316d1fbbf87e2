import type { Clock } from "../clock.ts";

/**
 * The step attempts running on this node, by workflow key, so that something other than the step
 * can stop one: an operator's terminate (the attempt's turn then commits the workflow terminated)
 * or cancel (it then commits the move to the cancel step), the news that the workflow is over elsewhere, or the testkit's stop (nothing decided, as a crash
 * leaves it). A stopped attempt is abandoned as a timed-out one is: its later calls are not sent.
 */
export class StepAttempts {
  private readonly running = new Map<string, { step: string; stop: (reason: Error) => void }>();
  /** `ctx.run`s that outlived their attempt, by workflow key: settled when none is under way. */
  private readonly lingering = new Map<string, Promise<void>>();
  /** Ends the waits for lingering runs (the node stops). */
  private readonly waitsEnd = new Set<() => void>();

  /** Registers the attempt of `key` at `step`: `abandon` keeps its later calls from being sent, `reject` ends its race with the reason. */
  add(key: string, step: string, abandon: () => void, reject: (reason: Error) => void): void {
    this.running.set(key, {
      step,
      stop: (reason) => {
        abandon();
        reject(reason);
      },
    });
  }

  delete(key: string): void {
    this.running.delete(key);
  }

  /**
   * The attempt of `key` ended with `ctx.run`s still under way: `settled` resolves when they are
   * over (journaled or failed). Their outside calls may land later still, so the workflow's next
   * attempt — a retry, which would call again, or a compensation, which would undo before the call
   * landed — waits for them (lingeringRuns).
   */
  linger(key: string, settled: Promise<void>): void {
    const done = settled.then(() => {
      if (this.lingering.get(key) === done) this.lingering.delete(key);
    });
    this.lingering.set(key, done);
  }

  /**
   * Resolves when the `ctx.run`s an earlier attempt of `key` left under way are over, after
   * `lingerAtMostMs`, or when the node stops; undefined when there are none. Runs waited for in
   * vain that long are not waited for again: each later attempt would wait as long.
   */
  lingeringRuns(key: string, clock: Pick<Clock, "schedule">): Promise<void> | undefined {
    const runs = this.lingering.get(key);
    if (!runs) return undefined;
    let timer: { cancel(): void } | undefined;
    let end = () => {};
    const waited = new Promise<void>((resolve) => {
      timer = clock.schedule(lingerAtMostMs, () => {
        if (this.lingering.get(key) === runs) this.lingering.delete(key);
        resolve();
      });
      end = resolve;
      this.waitsEnd.add(end);
    });
    return Promise.race([runs, waited]).finally(() => {
      timer?.cancel();
      this.waitsEnd.delete(end);
    });
  }

  /** The node stops: the next attempts waiting for lingering runs go on (and find the node stopping). */
  endWaits(): void {
    for (const end of this.waitsEnd) end();
  }

  /** Stops the attempt of `key` for an operator's terminate; whether one was running. */
  terminate(key: string, reason: string): boolean {
    const attempt = this.running.get(key);
    attempt?.stop(new TerminatedDuringStep(reason));
    return attempt !== undefined;
  }

  /**
   * Stops the attempt of `key` for an operator's cancel, if one runs at a step `stoppable` allows;
   * the stop, whose `applied` tells once the attempt's turn has decided whether it moved the
   * workflow to its cancel step (it may have ended first).
   */
  cancel(key: string, reason: string, stoppable: (step: string) => boolean): CancelledDuringStep | undefined {
    const attempt = this.running.get(key);
    if (!attempt || !stoppable(attempt.step)) return undefined;
    const cancelled = new CancelledDuringStep(reason);
    attempt.stop(cancelled);
    return cancelled;
  }

  /** Stops the attempt of `key` with nothing decided. */
  abandon(key: string): void {
    this.running.get(key)?.stop(new AbandonedStep());
  }

  /** Stops every attempt with nothing decided; the workflow keys they were of. */
  abandonAll(): string[] {
    const keys = [...this.running.keys()];
    for (const attempt of this.running.values()) attempt.stop(new AbandonedStep());
    return keys;
  }
}

/**
 * How long a workflow's next attempt waits for a `ctx.run` an earlier attempt left under way: an
 * outside call that has not answered in a minute is not waited for any longer (a run that
 * passes its `signal` to the call ends as soon as the attempt does).
 */
export const lingerAtMostMs = 60_000;

/** The attempt was stopped with nothing decided (see StepAttempts). */
export class AbandonedStep extends Error {
  constructor() {
    super("the step attempt was abandoned");
  }
}

/** An operator cancelled the workflow while this step attempt ran; `applied` once its turn moved the workflow to its cancel step. */
export class CancelledDuringStep extends Error {
  applied = false;
  constructor(readonly reason: string) {
    super(`cancelled ${reason} during the step`);
  }
}

/** An operator terminated the workflow while this step attempt ran. */
export class TerminatedDuringStep extends Error {
  constructor(readonly reason: string) {
    super(`terminated ${reason} during the step`);
  }
}
