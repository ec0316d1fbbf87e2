import type { Principal } from "../define/access.ts";
import type { StoredReply } from "../store/port.ts";
import type { Current, Decision } from "./decide.ts";
import type { StepHolds } from "./held-writes.ts";

/** One command or query waiting in an instance's mailbox. */
export interface Pending {
  /** Work that needs I/O (a workflow step): it runs alone in its turn, after what came before. */
  task?: (current: Current) => Promise<Decision>;
  handler: string;
  isQuery: boolean;
  input: unknown;
  idempotencyKey: string | undefined;
  requestHash: string | undefined;
  /** Who called over HTTP (a verified token), handed to the handler as `fx.principal`. */
  principal?: Principal | undefined;
  /**
   * A call from a workflow step that may hold its write until the step's transition commits it
   * (see held-writes.ts): the step gets the reply at once, and the instance stays busy until then.
   */
  hold?: StepHolds;
  /**
   * An operator's retry of the work that made this call (a failed workflow's step, a parked
   * message): a refusal stored under its key is not answered again but decided again, since what
   * refused it may have been fixed. Its new record goes under a successor key (see stored-replies.ts).
   */
  decideRefusalAgain?: true;
  /**
   * No earlier run sent its idempotency key (a step execution's first run, on the node that decided
   * the execution), so no record of it can be stored: the turn's first try does not look it up.
   * Were one stored after all, a write that keeps the record would find its key taken at commit
   * (a conflict), and the turn, tried again, looks it up.
   */
  keyUnsent?: true;
  /**
   * A workflow step's command: called when its answer is ok and kept on its own — committed, or
   * answered from the record an earlier run kept — so that a step failing later knows part of it
   * took effect (StepFailure.partial). A write the step holds is not kept until it commits
   * (StepHolds tells of one committed alone). `marked`: its journal's mark committed with it.
   */
  kept?: ((marked: boolean) => void) | undefined;
  /** The W3C traceparent of the command's span (tracing only): kept with what it writes. */
  trace?: string | undefined;
  /** `position`: the feed position of this instance's latest commit (for read-your-writes). */
  resolve: (reply: StoredReply, position: number | undefined) => void;
  reject: (error: unknown) => void;
}
