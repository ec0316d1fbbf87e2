/**
 * The transfers bench's load and its check, whatever runs the bank (a server over HTTP, one or
 * several nodes, or a runtime in process): random transfers between wallets, the money movements
 * they should have made (Ledger), and the balance check after a run.
 */
import type http from "node:http";
import { forEach, Latencies, quantiles, requestJson } from "./load.ts";

export interface TransferRequest {
  id: string;
  from: number;
  /** A wallet's index, or -1: a wallet never created (the deposit is refused, the saga compensates). */
  to: number;
  amount: number;
}

export interface View {
  id: string;
  status: string;
  step: string | null;
  state: { status?: string } | null;
}

/** The wallets the transfers move money between, each created with `initialBalance`. */
export interface Wallets {
  ids: readonly string[];
  initialBalance: number;
}

/** What the system under test must offer: run one transfer to its end, re-read one, read a balance. */
export interface Target {
  workflow: string;
  /** Starts the transfer and resolves with its record once it is over; `startAnswered` gets how long the start took to be answered (ms). */
  run(t: TransferRequest, startAnswered: (ms: number) => void): Promise<View>;
  /** The record of a transfer, held until it is over (at most 30 s); undefined if it was never started. */
  result(id: string): Promise<View | undefined>;
  balance(walletId: string): Promise<number>;
}

const finalStatuses = new Set(["ended", "failed", "terminated"]);

/** Whether a record is over: ended, failed or terminated. */
export const isOver = (view: View): boolean => finalStatuses.has(view.status);

/**
 * The expected money movements: completed transfers move money; rejected and compensated ones
 * leave every balance as it was. Anything else (an error, a transfer not over, a saga needing
 * manual intervention) is kept aside and settled before the balances are checked.
 */
export class Ledger {
  readonly delta: Float64Array;
  readonly outcomes = new Map<string, number>();
  unsettled: TransferRequest[] = [];

  constructor(wallets: number) {
    this.delta = new Float64Array(wallets);
  }

  /** Books a transfer by its final record; false if the record does not say what happened. */
  book(t: TransferRequest, view: View | undefined): boolean {
    const outcome = view && isOver(view) ? `${view.status}/${view.state?.status ?? "?"}` : undefined;
    if (outcome === undefined || (outcome !== "ended/completed" && outcome !== "ended/rejected" && outcome !== "ended/compensated")) {
      return false;
    }
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (outcome === "ended/completed") {
      this.delta[t.from]! -= t.amount;
      if (t.to >= 0) this.delta[t.to]! += t.amount;
    }
    return true;
  }
}

export interface Run {
  transfers: number;
  errors: number;
  firstError: unknown;
  elapsedMs: number;
  latencies: Latencies;
  /** Of the same transfers: from sending the start until its answer (the rest of `latencies` is waiting for the end). */
  startLatencies: Latencies;
}

/** Wallet id of a transfer's target: -1 is one never created. */
export const targetWallet = (wallets: Wallets, to: number): string => (to < 0 ? "missing" : wallets.ids[to]!);

/**
 * Keeps `concurrency` transfers in flight for `durationMs`: each worker starts a new transfer as
 * soon as its previous one is over. `missingShare` of them go to a wallet never created (their
 * withdrawal is compensated). Every transfer started is finished (or set aside) before it returns.
 */
export async function drive(target: Target, ledger: Ledger, prefix: string, concurrency: number, durationMs: number, missingShare = 0): Promise<Run> {
  const walletCount = ledger.delta.length;
  const latencies = new Latencies();
  const startLatencies = new Latencies();
  let next = 0;
  let errors = 0;
  let firstError: unknown;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const from = Math.floor(Math.random() * walletCount);
      let to = Math.floor(Math.random() * (walletCount - 1));
      if (to >= from) to++;
      if (Math.random() < missingShare) to = -1;
      const t: TransferRequest = { id: `${prefix}-${next++}`, from, to, amount: 1 + Math.floor(Math.random() * 100) };
      const t0 = performance.now();
      let view: View;
      let startMs = 0;
      try {
        view = await target.run(t, (ms) => (startMs = ms));
      } catch (error) {
        errors++;
        firstError ??= error;
        ledger.unsettled.push(t);
        // Failing fast must not starve the timer that ends the run, nor go on for long.
        if (errors > 100 && errors > latencies.length) stop = true;
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const ms = performance.now() - t0;
      if (!ledger.book(t, view)) {
        errors++;
        firstError ??= new Error(`transfer ${t.id} ended as ${JSON.stringify(view)}`);
        ledger.unsettled.push(t);
        continue;
      }
      latencies.push(ms);
      startLatencies.push(startMs);
    }
  };
  const timer = setTimeout(() => (stop = true), durationMs);
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(timer);
  if (errors > 100 && errors > latencies.length) throw new Error(`${prefix}: ${errors} of ${next} transfers failed; first: ${String(firstError)}`);
  return { transfers: latencies.length, errors, firstError, elapsedMs: performance.now() - started, latencies, startLatencies };
}

/** Transfers per second and latency of a run. */
export function summary(run: Run) {
  const latency = quantiles(run.latencies.sorted(), 3);
  return {
    transfersPerSecond: Math.round((run.transfers * 1000) / run.elapsedMs),
    p50Ms: latency.p50,
    p99Ms: latency.p99,
    startP50Ms: quantiles(run.startLatencies.sorted(), 3).p50,
    transfers: run.transfers,
  };
}

export interface InvariantResult {
  holds: boolean;
  sumHolds: boolean;
  walletsWrong: number;
  unsettled: number;
}

/**
 * Settles what was set aside (reads each record, waiting for it to be over), then reads every
 * balance: the sum must be unchanged and each wallet must hold initial + in − out.
 */
export async function checkInvariant(target: Target, ledger: Ledger, wallets: Wallets, log: (line: string) => void): Promise<InvariantResult> {
  const still: TransferRequest[] = [];
  for (const t of ledger.unsettled) {
    let view: View | undefined;
    try {
      view = await target.result(t.id);
    } catch (error) {
      if (still.length < 5) log(`could not read transfer ${t.id}: ${String(error)}`);
      still.push(t);
      continue;
    }
    // Never started (the POST failed before the server took it): nothing moved.
    if (view === undefined) continue;
    if (!ledger.book(t, view)) still.push(t);
  }
  ledger.unsettled = still;
  for (const t of still.slice(0, 5)) log(`transfer ${t.id} cannot be settled (not over, unreadable, or needs manual intervention)`);
  if (still.length > 5) log(`... and ${still.length - 5} more transfers cannot be settled`);

  const count = wallets.ids.length;
  const balances = new Float64Array(count);
  await forEach(wallets.ids, 64, async (id, i) => {
    balances[i] = await target.balance(id);
  });
  let sum = 0;
  let walletsWrong = 0;
  for (let i = 0; i < count; i++) {
    sum += balances[i]!;
    const expected = wallets.initialBalance + ledger.delta[i]!;
    if (balances[i] !== expected) {
      if (walletsWrong < 5) log(`wallet ${wallets.ids[i]}: balance ${balances[i]}, expected ${expected}`);
      walletsWrong++;
    }
  }
  const sumHolds = sum === wallets.initialBalance * count;
  if (!sumHolds) log(`sum of balances ${sum}, expected ${wallets.initialBalance * count}`);
  return { holds: sumHolds && walletsWrong === 0 && still.length === 0, sumHolds, walletsWrong, unsettled: still.length };
}

/**
 * Transfers over HTTP, spread round-robin over `nodes` (one server, or several sharing one
 * PostgreSQL schema). Each transfer is started on one node and its end awaited on the next one
 * (the same node when there is one): a load balancer gives no affinity, and the wait on another
 * node is the harder case, as the end must reach it through the store's signals.
 */
export function httpTarget(workflow: string, nodes: readonly URL[], agent: http.Agent, wallets: Wallets): Target {
  const result = async (id: string, node = nodes[0]!): Promise<View | undefined> => {
    // At most three waits of 30 s: a transfer not over by then is reported as it stands.
    for (let attempt = 1; ; attempt++) {
      const res = await requestJson(agent, node, "GET", `/${workflow}/${encodeURIComponent(id)}?wait=30`);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw new Error(`GET ${workflow}/${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      const view = res.body as View;
      if (isOver(view) || attempt === 3) return view;
    }
  };
  let next = 0;
  return {
    workflow,
    async run(t, startAnswered) {
      const at = next++ % nodes.length;
      const body = { from: wallets.ids[t.from], to: targetWallet(wallets, t.to), amount: t.amount };
      const sent = performance.now();
      const res = await requestJson(agent, nodes[at]!, "POST", `/${workflow}/${encodeURIComponent(t.id)}/start`, body);
      startAnswered(performance.now() - sent);
      if (res.status !== 200) throw new Error(`POST ${workflow}/${t.id}/start: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      const view = await result(t.id, nodes[(at + 1) % nodes.length]);
      if (!view) throw new Error(`transfer ${t.id} was started but is not found`);
      return view;
    },
    result: (id) => result(id),
    async balance(id) {
      const res = await requestJson(agent, nodes[next++ % nodes.length]!, "GET", `/wallet/${encodeURIComponent(id)}/balance`);
      if (res.status !== 200) throw new Error(`GET wallet/${id}/balance: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      return (res.body as { balance: number }).balance;
    },
  };
}
