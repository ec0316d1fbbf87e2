import type { Pending } from "./pending.ts";

/**
 * The next turn of an instance's mailbox, taken out of it. A task runs alone; otherwise everything
 * up to the next task, at most `maxTurn`. A step's call that may hold its write (held-writes.ts)
 * is held only when it is alone in its turn: with commands waiting behind it, it commits with
 * them, under its idempotency key, instead of keeping the instance busy until its workflow's
 * transition commits. A busy instance then commits a batch per turn, not one workflow's call per
 * commit. One that may not commit unheld (StepHolds.mayCommitUnheld) runs alone.
 *
 * A step's call whose eager start is being committed (StepHolds.waitsForPrefix) stays in the
 * mailbox, in its place, until that commit settles: it may not be decided before its start is
 * durable, and the commands around it go on meanwhile rather than wait with it. Empty when every
 * call in the mailbox waits so.
 */
export function takeTurn(mailbox: Pending[], maxTurn: number): Pending[] {
  if (!mailbox.some(waitsForPrefix)) return mailbox.splice(0, turnLength(mailbox, maxTurn));
  const ready = mailbox.filter((pending) => !waitsForPrefix(pending));
  const turn = ready.slice(0, turnLength(ready, maxTurn));
  const taken = new Set(turn);
  let kept = 0;
  for (const pending of mailbox) if (!taken.has(pending)) mailbox[kept++] = pending;
  mailbox.length = kept;
  return turn;
}

/** Settles once a call of `mailbox` no longer waits for its eager start (all of them wait: takeTurn was empty). */
export function untilOneReady(mailbox: readonly Pending[]): Promise<void> {
  return Promise.race(mailbox.map((pending) => pending.hold!.prefixSettled()));
}

const waitsForPrefix = (pending: Pending): boolean => pending.hold?.waitsForPrefix === true;

function turnLength(mailbox: readonly Pending[], maxTurn: number): number {
  const alone = (p: Pending) => p.task !== undefined || (p.hold !== undefined && !p.hold.mayCommitUnheld());
  if (mailbox[0] && alone(mailbox[0])) return 1;
  const next = mailbox.findIndex((p, i) => i > 0 && alone(p));
  return Math.min(next === -1 ? mailbox.length : next, maxTurn);
}
