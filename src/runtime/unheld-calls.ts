import { errors } from "../define/errors.ts";
import type { InstanceWrite, StoredReply } from "../store/port.ts";
import type { Pending } from "./pending.ts";

/** A turn of one command: nothing refused here. */
export const noneRefused: ReadonlyMap<Pending, unknown> = new Map();

/**
 * Step calls (`calls`: those with a hold, no queries) in a turn with other commands commit with
 * them, not held (takeTurn in mailbox-turns.ts). Each first waits for its eager start to be durable
 * (StepHolds.beforeDurable); those whose start could not be made durable, with why. Sent beside
 * the turn's reads.
 */
export async function prefixesDurable(calls: Pending[]): Promise<ReadonlyMap<Pending, unknown>> {
  const failed = new Map<Pending, unknown>();
  await Promise.all(
    calls.map(async (pending) => {
      try {
        await pending.hold!.beforeDurable();
      } catch (error) {
        failed.set(pending, error);
      }
    }),
  );
  return failed;
}

/**
 * The step calls (as for prefixesDurable) that may not commit unheld, with why: those `prefixesDurable` failed,
 * and those whose attempt was stopped or whose node no longer runs their workflow
 * (StepHolds.mayCommitUnheld): their step may run again elsewhere. Checked after the turn's reads,
 * just before deciding, on every try: a node that passes holds its lease past the read, so
 * another node's takeover writes after it and the commit is a conflict, tried again and refused
 * here. A call that passes is tracked by its step until answered (StepHolds.trackUnheld): a step
 * stopped from then on waits to learn whether it was kept.
 */
export function unheldRefusals(calls: Pending[], prefixFailures: ReadonlyMap<Pending, unknown>): ReadonlyMap<Pending, unknown> {
  const refused = new Map(prefixFailures);
  for (const pending of calls) {
    if (!pending.hold || refused.has(pending)) continue;
    if (pending.hold.abandoned || !pending.hold.mayCommitUnheld()) refused.set(pending, errors.runAbandoned());
    else trackUntilAnswered(pending);
  }
  return refused;
}

/**
 * A step call (`pending.hold` set) about to commit without its step: its step, stopped from now
 * on, waits for its answer to learn whether it was kept (StepHolds.trackUnheld). Also for a call
 * committing alone whose write is not held (Instance.tryTurn).
 */
export function trackUntilAnswered(pending: Pending): void {
  if (tracked.has(pending)) return;
  tracked.add(pending);
  pending.hold!.trackUnheld(answered(pending));
}

/** Calls already tracked by their step (a turn tried again after a conflict checks them again). */
const tracked = new WeakSet<Pending>();

/** Settles once `pending` is answered (Instance.drain tells `kept` first), however it ends. */
function answered(pending: Pending): Promise<void> {
  return new Promise((settled) => {
    const { resolve, reject } = pending;
    pending.resolve = (reply, position) => {
      resolve(reply, position);
      settled();
    };
    pending.reject = (error) => {
      reject(error);
      settled();
    };
  });
}

/**
 * The journal marks of a turn's step calls that commit in it, on their own (not held), decided now
 * (`decided` has their keys) and answered ok: committed with the turn's write, all or none, a call
 * is never kept without its mark. Each such outcome is `marked`, so that its step does not write
 * the mark again (Pending.kept).
 */
export function marksOfCalls(
  target: { component: string; id: string },
  turn: Pending[],
  outcomes: ReadonlyArray<{ reply: StoredReply; marked?: true } | object>,
  decided: ReadonlyMap<string, unknown>,
): InstanceWrite[] {
  // Made only for a turn with such a call: most turns (plain commands) have none.
  let marks: Map<string, InstanceWrite> | undefined;
  turn.forEach((pending, i) => {
    const outcome = outcomes[i]!;
    const { hold, idempotencyKey: key } = pending;
    if (!hold?.keptMarker || key === undefined || pending.isQuery || !decided.has(key) || !("reply" in outcome) || !outcome.reply.ok) return;
    marks ??= new Map();
    if (!marks.has(key)) marks.set(key, hold.keptMarker({ ...target, command: pending.handler, input: pending.input, key }));
    outcome.marked = true;
  });
  return marks ? [...marks.values()] : noMarks;
}

const noMarks: InstanceWrite[] = [];
