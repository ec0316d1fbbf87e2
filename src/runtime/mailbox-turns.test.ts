import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StepHolds } from "./held-writes.ts";
import { takeTurn, untilOneReady } from "./mailbox-turns.ts";
import type { Pending } from "./pending.ts";

/** A command named `handler`; `hold` makes it a step's call. */
function command(handler: string, hold?: Partial<StepHolds>): Pending {
  return {
    handler,
    isQuery: false,
    input: {},
    idempotencyKey: undefined,
    requestHash: undefined,
    ...(hold ? { hold: { mayCommitUnheld: () => true, waitsForPrefix: false, ...hold } as StepHolds } : {}),
    resolve: () => {},
    reject: () => {},
  };
}

/** A step's call whose eager start is being committed until `settle` is called. */
function waitingCall(handler: string): { pending: Pending; settle: () => void } {
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const pending = command(handler, { waitsForPrefix: true, prefixSettled: () => settled });
  const hold = pending.hold as { waitsForPrefix: boolean };
  return { pending, settle: () => ((hold.waitsForPrefix = false), settle()) };
}

const names = (pendings: Pending[]) => pendings.map((p) => p.handler);

describe("an instance's next turn", () => {
  it("is-every-command-up-to-the-next-task-at-most-maxTurn", () => {
    const task = { ...command("task"), task: async () => ({}) as never };
    const mailbox = [command("a"), command("b"), task, command("c")];
    assert.deepEqual(names(takeTurn(mailbox, 8)), ["a", "b"]);
    assert.deepEqual(names(takeTurn(mailbox, 8)), ["task"], "a task runs alone");
    assert.deepEqual(names(mailbox), ["c"]);
    const many = [command("a"), command("b"), command("c")];
    assert.deepEqual(names(takeTurn(many, 2)), ["a", "b"]);
  });

  it("runs-a-step's-call-that-may-not-commit-unheld-alone", () => {
    const mailbox = [command("a"), command("held", { mayCommitUnheld: () => false }), command("b")];
    assert.deepEqual(names(takeTurn(mailbox, 8)), ["a"]);
    assert.deepEqual(names(takeTurn(mailbox, 8)), ["held"]);
    assert.deepEqual(names(takeTurn(mailbox, 8)), ["b"]);
  });

  it("leaves-a-call-whose-eager-start-is-being-committed-in-its-place-and-takes-the-rest", () => {
    const waiting = waitingCall("waits");
    const mailbox = [command("a"), waiting.pending, command("b")];
    assert.deepEqual(names(takeTurn(mailbox, 8)), ["a", "b"]);
    assert.deepEqual(names(mailbox), ["waits"]);
    const later = command("c");
    mailbox.push(later);
    assert.deepEqual(names(takeTurn(mailbox, 8)), ["c"]);
    assert.deepEqual(names(takeTurn(mailbox, 8)), [], "nothing to take while every call waits");
    assert.deepEqual(names(mailbox), ["waits"]);
    waiting.settle();
    mailbox.push(command("d"));
    assert.deepEqual(names(takeTurn(mailbox, 8)), ["waits", "d"], "once its start is committed, in its place");
  });

  it("is-waited-for-until-one-waiting-call's-start-is-committed", async () => {
    const first = waitingCall("first");
    const second = waitingCall("second");
    let ready = false;
    const waited = untilOneReady([first.pending, second.pending]).then(() => (ready = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ready, false);
    second.settle();
    await waited;
    assert.equal(ready, true);
  });
});
