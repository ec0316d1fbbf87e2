import type { Clock } from "../clock.ts";
import type { EagerPrefix } from "../held-writes.ts";

/**
 * A step attempt's timeout (StepOptions.timeoutMs). A step of an eager start runs before its
 * workflow's start is committed, and waits for that commit once it makes something durable on its
 * own or finds an entity busy; a workflow started plainly commits its start before the step's
 * clock starts. The time a step waits for its start's commit is therefore given back to it, so
 * that a step times out alike with or without `eagerStart`.
 */
export class StepDeadline {
  private timer: { cancel(): void } | undefined;
  /** When the step first waited for its start's commit, and when that commit settled. */
  private waitedFrom: number | undefined;
  private waitedUntil: number | undefined;
  /** What was given back so far. */
  private given = 0;

  constructor(private readonly clock: Pick<Clock, "now" | "schedule">) {}

  /** The eager prefix as the step sees it: the time from its first commit() until that commit settles is not the step's. */
  watch(prefix: EagerPrefix): EagerPrefix {
    const waitFor = (): Promise<void> => {
      if (this.waitedFrom !== undefined) return prefix.commit();
      this.waitedFrom = this.clock.now();
      const committed = prefix.commit();
      const settled = () => void (this.waitedUntil ??= this.clock.now());
      committed.then(settled, settled);
      return committed;
    };
    return {
      commit: waitFor,
      get holdsWrites() {
        return prefix.holdsWrites;
      },
      get startPending() {
        return prefix.startPending;
      },
      get committing() {
        return prefix.committing;
      },
    };
  }

  /** Calls `expire` once the step has had `timeoutMs` of its own. */
  start(timeoutMs: number, expire: () => void): void {
    const due = () => {
      const waited = this.waitedFrom === undefined ? 0 : (this.waitedUntil ?? this.clock.now()) - this.waitedFrom;
      const owed = waited - this.given;
      if (owed <= 0) return expire();
      this.given = waited;
      this.timer = this.clock.schedule(owed, due);
    };
    this.timer = this.clock.schedule(timeoutMs, due);
  }

  cancel(): void {
    this.timer?.cancel();
  }
}
