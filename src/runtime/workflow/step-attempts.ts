/**
 * The step attempts running on this node, by workflow key, so that something other than the step
 * can stop one: an operator's terminate (the attempt's turn then commits the workflow terminated),
 * the news that the workflow is over elsewhere, or the testkit's stop (nothing decided, as a crash
 * leaves it). A stopped attempt is abandoned as a timed-out one is: its later calls are not sent.
 */
export class StepAttempts {
  private readonly running = new Map<string, (reason: Error) => void>();

  /** Registers the attempt of `key`: `abandon` keeps its later calls from being sent, `reject` ends its race with the reason. */
  add(key: string, abandon: () => void, reject: (reason: Error) => void): void {
    this.running.set(key, (reason) => {
      abandon();
      reject(reason);
    });
  }

  delete(key: string): void {
    this.running.delete(key);
  }

  /** Stops the attempt of `key` for an operator's terminate; whether one was running. */
  terminate(key: string, reason: string): boolean {
    const stop = this.running.get(key);
    stop?.(new TerminatedDuringStep(reason));
    return stop !== undefined;
  }

  /** Stops the attempt of `key` with nothing decided. */
  abandon(key: string): void {
    this.running.get(key)?.(new AbandonedStep());
  }

  /** Stops every attempt with nothing decided. */
  abandonAll(): void {
    for (const stop of this.running.values()) stop(new AbandonedStep());
  }
}

/** The attempt was stopped with nothing decided (see StepAttempts). */
export class AbandonedStep extends Error {
  constructor() {
    super("the step attempt was abandoned");
  }
}

/** An operator terminated the workflow while this step attempt ran. */
export class TerminatedDuringStep extends Error {
  constructor(readonly reason: string) {
    super(`terminated ${reason} during the step`);
  }
}
