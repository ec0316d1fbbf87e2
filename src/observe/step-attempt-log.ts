import type { WorkflowRecord } from "../store/port.ts";
import { logEvent } from "./log-event.ts";
import { LogThrottle } from "./log-throttle.ts";

/**
 * Says a failed step attempt that the workflow survives (event `step_attempt_failed`): retried
 * after a back-off, or failed over to its compensation. A step that times out is otherwise seen
 * only in `/metrics` or in `sagaflow workflows show`; a hot wallet can time out thousands of
 * steps a minute, so each workflow's step says itself once per 10 s, with how many it held back.
 * A warning, but for a refusal that fails over (`refused`: an error retrying cannot change, such as
 * a wallet saying "no such wallet"): that is the saga taking its own compensating path, an info line.
 */
export class StepAttemptLog {
  private readonly throttle = new LogThrottle(10_000);

  constructor(private readonly log: (line: string) => void) {}

  failed(workflow: string, id: string, step: string, attempt: number, outcome: "retry" | "failover", after: WorkflowRecord, refused = false): void {
    // Refusals apart: a burst of them must not hold back a warning.
    const passed = this.throttle.pass(`${workflow}\n${step}\n${outcome}\n${refused}`);
    if (passed === undefined) return;
    const error = after.lastError ?? { code: "failed", message: "" };
    const then = outcome === "retry" ? { retry_in_ms: Math.max(0, (after.dueAt ?? after.updatedAt) - after.updatedAt) } : { next_step: after.step };
    const fields = {
      event: "step_attempt_failed", workflow, id, step, attempt, outcome, ...then, ...(refused ? { refused } : {}),
      error_code: error.code, error_message: error.message, suppressed: passed.suppressed,
    };
    const what = outcome === "retry" ? `retry in ${then.retry_in_ms} ms` : `failover to ${after.step}`;
    const more = passed.suppressed > 0 ? ` (and ${passed.suppressed} more of this step in the last ${Math.round(passed.sinceMs / 1000)} s)` : "";
    const happened = refused ? "was refused" : "failed";
    logEvent(this.log, refused ? "info" : "warn", fields, `sagaflow: workflow ${workflow} "${id}" step ${step} attempt ${attempt} ${happened}, ${what}${more}: ${error.code}: ${error.message}`);
  }
}
