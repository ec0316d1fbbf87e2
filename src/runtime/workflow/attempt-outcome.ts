/**
 * A step attempt's outcome: `run(input)` once its input is settled, unless the `reject` handed to
 * `arm` is called first (by the step's deadline, or a stop: StepAttempts). One promise settled by
 * whichever comes first, rather than a race of the run and a deadline promise: that race made a
 * twentieth of a transfer's promises. The run starts in a later microtask, as after a read.
 */
export function attemptOutcome<I>(input: I | Promise<I>, run: (input: I) => unknown, arm: (reject: (reason: unknown) => void) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    arm(reject);
    // Settled with the run's value, never *with* its pending promise: that would lock the outcome
    // to it, and a deadline passing meanwhile could no longer reject it. (Not queueMicrotask:
    // Node makes an AsyncResource for each, which cost more instructions than the race saved.)
    Promise.resolve(input).then(run).then(resolve, reject);
  });
}
