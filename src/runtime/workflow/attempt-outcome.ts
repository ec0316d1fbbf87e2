/**
 * A step attempt's outcome: `run(input)` once its input is settled, unless a rejection `arm` is
 * given comes first (the step's deadline, or a stop: StepAttempts). One promise settled by
 * whichever comes first, rather than a race of the run and a deadline promise: that race made a
 * twentieth of a transfer's promises. The handler starts in a later microtask, as after a read.
 */
export function attemptOutcome<I>(input: I | Promise<I>, run: (input: I) => unknown, arm: (reject: (reason: unknown) => void) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    arm(reject);
    // Never resolved *with* a pending promise: that would lock the outcome to it, and a deadline
    // passing meanwhile could no longer reject it.
    const settle = (result: unknown) => (isThenable(result) ? void Promise.resolve(result).then(resolve, reject) : resolve(result));
    if (input instanceof Promise) {
      input.then(run).then(resolve, reject);
      return;
    }
    queueMicrotask(() => {
      try {
        settle(run(input));
      } catch (error) {
        // Whatever the handler threw, passed on as it is (as a rejected run would be).
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(error);
      }
    });
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}
