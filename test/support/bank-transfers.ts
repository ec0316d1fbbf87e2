/**
 * The transfer plan, the resilient requests and the outcome checks shared by the tests that run
 * examples/bank through kills, restarts and lost connections (test/workflow-crash.test.ts on
 * SQLite, test/postgres-*.test.ts on PostgreSQL).
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { Store } from "../../src/store/port.ts";
import { requestJson } from "./http.ts";

export const walletCount = 20;
export const initialBalance = 10_000;
/** Larger than all the money in the system: such a transfer is refused whatever ran before. */
export const hugeAmount = walletCount * initialBalance + 1;

export type Outcome = "completed" | "rejected" | "compensated";

export interface PlannedTransfer {
  workflow: "transfer" | "transfer-workflow";
  id: string;
  input: { from: string; to: string; amount: number };
  expected: Outcome;
}

/** A request that survives the kills (the crash tests' `send`). */
export type Send = (path: string, body?: unknown, timeoutMs?: number) => Promise<{ status: number; body: any }>;

export const walletId = (i: number) => `w${i}`;

/**
 * A `Send` that survives kills and dropped connections: a failed request, or a 503 (shutting
 * down, or the database out of reach), is sent again with the same body to whichever node
 * `target` names by then, for up to 60 s. Starts are idempotent, so a re-sent
 * start is harmless. `resent()` counts the extra sends.
 */
export function resendingSend(
  target: () => string | Promise<string>,
  why: string,
  options: { lastWords?: () => string } = {},
): { send: Send; resent: () => number } {
  let resent = 0;
  const send: Send = async (path, body, timeoutMs = 40_000) => {
    const deadline = Date.now() + 60_000;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) resent++;
      try {
        const res = await requestJson((await target()) + path, body === undefined ? { timeoutMs } : { body, timeoutMs });
        if (res.status !== 503) return res;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`${path} kept failing: ${String(error)} ${why}\n${options.lastWords?.() ?? ""}`);
      }
      if (Date.now() > deadline) throw new Error(`${path} kept being refused ${why}`);
      await sleep(20);
    }
  };
  return { send, resent: () => resent };
}

/** Creates the wallets every plan draws on. */
export async function createWallets(send: Send): Promise<void> {
  for (let i = 0; i < walletCount; i++) {
    const res = await send(`/wallet/${walletId(i)}/create`, { initialBalance });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }
}

const workflowNames = ["transfer", "transfer-workflow"] as const;

export function planTransfers(rand: () => number, transferCount: number): PlannedTransfer[] {
  const pick = () => Math.floor(rand() * walletCount);
  const planned: PlannedTransfer[] = [];
  for (let i = 0; i < transferCount; i++) {
    // Alternate the saga and the plain workflow; the category cycles independently of that.
    const workflow = i % 2 === 0 ? "transfer" : "transfer-workflow";
    const category = Math.floor(i / 2) % 10;
    const from = pick();
    let to = pick();
    if (to === from) to = (to + 1) % walletCount;
    // Small amounts: at most transferCount × 5 (2,500 for 500) can ever leave a wallet holding
    // 10,000, so a normal transfer (or the withdrawal of a compensated one) can never be refused.
    const small = 1 + Math.floor(rand() * 5);
    const input =
      category === 0
        ? { from: walletId(from), to: `ghost-${i}`, amount: small } // deposit refused → refunded
        : category === 5
          ? { from: walletId(from), to: walletId(to), amount: hugeAmount } // withdrawal refused
          : { from: walletId(from), to: walletId(to), amount: small };
    const expected: Outcome = category === 0 ? "compensated" : category === 5 ? "rejected" : "completed";
    planned.push({ workflow, id: `t${i}`, input, expected });
  }
  return planned;
}

/** Counts, by `workflow.step`, the transfers a kill left mid-way (running or paused) into `leftMidway`. */
export async function countMidway(store: Pick<Store, "listWorkflows">, leftMidway: Map<string, number>): Promise<void> {
  for (const name of workflowNames) {
    for (const w of await store.listWorkflows({ name, statuses: ["running", "paused"], limit: 1000 })) {
      const key = `${name}.${w.step}`;
      leftMidway.set(key, (leftMidway.get(key) ?? 0) + 1);
    }
  }
}

/**
 * The acknowledged-start counts at which to kill: `kills - 1` random ones, and the last right
 * after the last start (while many transfers are still mid-step), in ascending order.
 */
function killMarks(rand: () => number, kills: number, transferCount: number): number[] {
  const marks = Array.from({ length: kills - 1 }, () => 10 + Math.floor(rand() * (transferCount - 20)));
  marks.push(transferCount);
  marks.sort((a, b) => a - b);
  return marks;
}

/** Starts every transfer, `concurrency` at a time, calling `started` after each acknowledged start. */
export async function startTransfers(send: Send, transfers: PlannedTransfer[], concurrency: number, started: () => void, why: string): Promise<void> {
  let next = 0;
  const starter = async () => {
    while (next < transfers.length) {
      const t = transfers[next++]!;
      const res = await send(`/${t.workflow}/${t.id}/start`, t.input);
      assert.equal(res.status, 200, `start ${t.workflow} ${t.id}: ${JSON.stringify(res.body)} ${why}`);
      assert.deepEqual(res.body, { status: "started" }, `start ${t.workflow} ${t.id} ${why}`);
      started();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, starter));
}

/**
 * Starts every transfer (see startTransfers) while killing the child `kills` times: whenever the
 * number of acknowledged starts crosses a mark (see killMarks), `killAndRestart` runs after a
 * random few milliseconds, each after the previous one. Resolves once all kills are done.
 */
export async function startTransfersAmidKills(
  send: Send,
  transfers: PlannedTransfer[],
  options: { rand: () => number; kills: number; concurrency: number; killAndRestart: () => Promise<unknown>; why: string },
): Promise<void> {
  const { rand, kills, concurrency, killAndRestart, why } = options;
  const marks = killMarks(rand, kills, transfers.length);
  let acknowledged = 0;
  let chaos = Promise.resolve();
  const progressed = () => {
    acknowledged++;
    while (marks.length > 0 && marks[0]! <= acknowledged) {
      marks.shift();
      const delay = Math.floor(rand() * 40);
      chaos = chaos.then(async () => {
        await sleep(delay);
        await killAndRestart();
      });
    }
  };
  await startTransfers(send, transfers, concurrency, progressed, why);
  await chaos;
}

/** Waits for every transfer to end, without any help: their views by id. */
async function waitForTransfers(send: Send, transfers: PlannedTransfer[], why: string): Promise<Map<string, any>> {
  const views = new Map<string, any>();
  let waited = 0;
  const waiter = async () => {
    while (waited < transfers.length) {
      const t = transfers[waited++]!;
      const res = await send(`/${t.workflow}/${t.id}?wait=30`, undefined, 40_000);
      assert.equal(res.status, 200, `GET ${t.workflow} ${t.id}: ${JSON.stringify(res.body)} ${why}`);
      views.set(t.id, res.body);
    }
  };
  await Promise.all(Array.from({ length: 20 }, waiter));
  return views;
}

/**
 * Checks that every transfer ended as its input dictates. Returns the outcomes counted and the
 * money each wallet gained (or lost) by the completed transfers.
 */
function checkOutcomes(
  transfers: PlannedTransfer[],
  views: Map<string, any>,
  why: string,
): { counted: Record<Outcome, number>; moved: Map<string, number> } {
  const moved = new Map<string, number>();
  const add = (wallet: string, amount: number) => moved.set(wallet, (moved.get(wallet) ?? 0) + amount);
  const counted = { completed: 0, rejected: 0, compensated: 0 };
  for (const t of transfers) {
    const view = views.get(t.id);
    assert.equal(view.id, t.id);
    assert.equal(view.status, "ended", `${t.workflow} ${t.id} is ${view.status} at ${view.step}: ${JSON.stringify(view)} ${why}`);
    assert.equal(view.state.status, t.expected, `${t.workflow} ${t.id}: ${JSON.stringify(view)} ${why}`);
    counted[t.expected]++;
    if (t.expected === "completed") {
      add(t.input.from, -t.input.amount);
      add(t.input.to, t.input.amount);
    }
  }
  return { counted, moved };
}

/**
 * Waits for every transfer to end and checks, over HTTP, that each ended as its input dictates
 * and that every wallet holds exactly what the completed transfers say. The outcomes counted.
 */
export async function checkTransfersEnded(send: Send, transfers: PlannedTransfer[], why: string): Promise<Record<Outcome, number>> {
  const views = await waitForTransfers(send, transfers, why);
  const { counted, moved } = checkOutcomes(transfers, views, why);
  let total = 0;
  for (let i = 0; i < walletCount; i++) {
    const res = await send(`/wallet/${walletId(i)}/balance`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.balance, initialBalance + (moved.get(walletId(i)) ?? 0), `balance of ${walletId(i)} ${why}`);
    total += res.body.balance as number;
  }
  assert.equal(total, walletCount * initialBalance, `no money created or lost ${why}`);
  return counted;
}

/** Fails on lines of the nodes' output that show a bug in Sagaflow (never expected, whatever the chaos). */
export function assertNoBugsLogged(outputs: string[], why: string): void {
  const bugs = outputs.flatMap((o) => o.split("\n")).filter((line) => /internal error|TypeError|ReferenceError/.test(line));
  assert.deepEqual(bugs, [], `the nodes logged bugs ${why}`);
}

/**
 * The store itself, once the last child stopped: each withdrawal and deposit happened exactly
 * once (and, with `seqsWithoutGap`, each wallet's seqs run 1, 2, …), no refused deposit created a
 * wallet, and every transfer instance ended.
 */
export async function checkStoredTransfers(
  store: Pick<Store, "readEvents" | "listWorkflows">,
  transfers: PlannedTransfer[],
  why: string,
  options: { seqsWithoutGap?: boolean } = {},
): Promise<void> {
  const expectedCounts = new Map<string, { withdrawn: number; deposited: number }>();
  const bump = (wallet: string, kind: "withdrawn" | "deposited") => {
    const counts = expectedCounts.get(wallet) ?? { withdrawn: 0, deposited: 0 };
    counts[kind]++;
    expectedCounts.set(wallet, counts);
  };
  for (const t of transfers) {
    if (t.expected === "completed") {
      bump(t.input.from, "withdrawn");
      bump(t.input.to, "deposited");
    } else if (t.expected === "compensated") {
      bump(t.input.from, "withdrawn");
      bump(t.input.from, "deposited");
      const ghost = await store.readEvents("wallet", t.input.to, 0, 10);
      assert.deepEqual(ghost, [], `wallet ${t.input.to} must never exist ${why}`);
    }
  }
  for (let i = 0; i < walletCount; i++) {
    const events = await store.readEvents("wallet", walletId(i), 0, 10_000);
    const count = (type: string) => events.filter((e) => e.type === type).length;
    const want = expectedCounts.get(walletId(i)) ?? { withdrawn: 0, deposited: 0 };
    assert.equal(count("created"), 1, `${walletId(i)} created ${why}`);
    assert.equal(count("withdrawn"), want.withdrawn, `withdrawals from ${walletId(i)} ${why}`);
    assert.equal(count("deposited"), want.deposited, `deposits into ${walletId(i)} ${why}`);
    if (options.seqsWithoutGap) {
      assert.deepEqual(events.map((e) => e.seq), events.map((_, k) => k + 1), `${walletId(i)}: seqs without gap ${why}`);
    }
  }
  for (const name of workflowNames) {
    const unfinished = await store.listWorkflows({ name, statuses: ["running", "paused", "suspended", "failed", "terminated"], limit: 10 });
    assert.deepEqual(unfinished.map((w) => `${w.id}:${w.status}:${w.step}`), [], `${name} instances not ended ${why}`);
    const ended = await store.listWorkflows({ name, statuses: ["ended"], limit: 1000 });
    assert.equal(ended.length, transfers.length / 2, `${name} instances ended ${why}`);
  }
}
