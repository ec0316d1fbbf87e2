import type { Principal } from "../../define/access.ts";
import type { WorkflowTransition } from "../../store/port.ts";

/**
 * Who started a workflow over HTTP is kept in the history line of its start (no new column: the
 * transition's detail is already stored on every store), as `started by {"subject","issuer"}`.
 * Only the subject and issuer: the other claims may hold personal data and do not say who.
 */
const prefix = "by ";

export interface StartedBy {
  subject: string | null;
  issuer: string;
}

/** The words appended to the start's history line. */
export function startedByNote(principal: Principal): string {
  const who: StartedBy = { subject: principal.subject ?? null, issuer: principal.issuer };
  return prefix + JSON.stringify(who);
}

/** What `startedByNote` writes, first on the line (other notes of the same turn may follow). */
const written = /^started by (\{"subject":(?:null|"(?:[^"\\]|\\.)*"),"issuer":"(?:[^"\\]|\\.)*"\})/;

/** Who started the workflow, read back from its first history line; null when no token said. */
export function startedByOf(history: ReadonlyArray<Pick<WorkflowTransition, "detail">>): StartedBy | null {
  const match = written.exec(history[0]?.detail ?? "");
  return match ? (JSON.parse(match[1]!) as StartedBy) : null;
}
