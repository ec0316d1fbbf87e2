import { errors } from "../define/errors.ts";
import type { Pending } from "./pending.ts";

/** A turn of one command: nothing refused here. */
export const noneRefused: ReadonlyMap<Pending, unknown> = new Map();

/**
 * Step calls in a turn with other commands commit with them, not held (Instance.turnLength): each
 * waits for its eager start to be durable first (StepHolds.beforeDurable). One whose attempt was
 * stopped, or whose node no longer runs its workflow (StepHolds.mayCommitUnheld), commits nothing:
 * its step may have run again meanwhile, elsewhere. Checked on every try of the turn's commit, so
 * a commit that met another node's write is not decided again for a step that node took over.
 * One that passes is tracked by its step until answered (StepHolds.trackUnheld): a step stopped
 * from then on waits to learn whether it was kept. Those refused, with why.
 */
export async function unheldCallsReady(turn: Pending[]): Promise<ReadonlyMap<Pending, unknown>> {
  const refused = new Map<Pending, unknown>();
  await Promise.all(
    turn.map(async (pending) => {
      if (!pending.hold || pending.isQuery) return;
      try {
        await pending.hold.beforeDurable();
      } catch (error) {
        refused.set(pending, error);
        return;
      }
      if (pending.hold.abandoned || !pending.hold.mayCommitUnheld()) refused.set(pending, errors.runAbandoned());
      else if (!tracked.has(pending)) {
        tracked.add(pending);
        pending.hold.trackUnheld(answered(pending));
      }
    }),
  );
  return refused;
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
