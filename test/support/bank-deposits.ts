import { testBroker } from "./nats-server.ts";
import type { Broker } from "../../src/broker/port.ts";
import { getJson, postJson } from "./http.ts";
import { between } from "./random.ts";
import { sleep, type SagaflowProcess } from "./server-process.ts";

const encoder = new TextEncoder();

export interface Deposit {
  wallet: string;
  amount: number;
  ref: string;
}

/** `count` deposits over `wallets` wallets, `duplicateShare` of them repeating an earlier ref (same body). */
export function depositPlan(random: () => number, count: number, wallets: number, duplicateShare: number): Deposit[] {
  const plan: Deposit[] = [];
  for (let i = 0; i < count; i++) {
    const earlier = plan.length > 0 && random() < duplicateShare ? plan[between(random, 0, plan.length - 1)] : undefined;
    plan.push(earlier ?? { wallet: `w${between(random, 0, wallets - 1)}`, amount: between(random, 1, 100), ref: `r${i}` });
  }
  return plan;
}

/** What each wallet must hold: every distinct ref once. */
export function expectedBalances(plan: Deposit[], wallets: number): Map<string, number> {
  const balances = new Map<string, number>();
  for (let w = 0; w < wallets; w++) balances.set(`w${w}`, 0);
  const seen = new Set<string>();
  for (const d of plan) {
    if (seen.has(d.ref)) continue;
    seen.add(d.ref);
    balances.set(d.wallet, balances.get(d.wallet)! + d.amount);
  }
  return balances;
}

/**
 * Publishes raw bodies to `bank.deposits` in order, each with a message id of its own (a retried
 * publish is dropped by the stream; a duplicate ref is a new message and must be de-duplicated by
 * the service). Retries through broker outages.
 */
export async function publishAll(broker: Broker, bodies: string[], prefix: string, paceEvery = 250, paceMs = 50): Promise<void> {
  for (let i = 0; i < bodies.length; i += paceEvery) {
    await Promise.all(bodies.slice(i, i + paceEvery).map((body, j) => publishRetrying(broker, body, `${prefix}-${i + j}`)));
    await sleep(paceMs);
  }
}

async function publishRetrying(broker: Broker, body: string, msgId: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await broker.publish("bank.deposits", encoder.encode(body), { msgId });
      return;
    } catch (error) {
      if (attempt > 200) throw error;
      await sleep(100);
    }
  }
}

export async function brokerFor(url: string): Promise<Broker> {
  const broker = await testBroker(url);
  await broker.ensureStream({ name: "BANK_DEPOSITS", subjects: ["bank.deposits"] });
  return broker;
}

/** Creates wallets w0 … w{n-1} with balance 0, retrying while the child restarts. */
export async function createWallets(server: SagaflowProcess, n: number): Promise<void> {
  for (let w = 0; w < n; w++) {
    const reply = await postJson(`${server.url}/wallet/w${w}/create`, { initialBalance: 0 });
    if (reply.status !== 200) throw new Error(`creating w${w}: ${reply.status} ${reply.text}`);
  }
}

/** Waits until the deposits consumer has no lag and every balance is as expected (or time runs out); returns the balances. */
export async function settledBalances(server: SagaflowProcess, expected: Map<string, number>, timeoutMs: number): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let balances = new Map<string, number>();
  for (;;) {
    const consumers = await getJson(`${await server.admin()}/consumers`);
    const deposits = (consumers.body?.consumers as Array<{ name: string; lag: number }> | undefined)?.find((c) => c.name === "deposits");
    balances = new Map();
    for (const wallet of expected.keys()) {
      const reply = await getJson(`${server.url}/wallet/${wallet}/balance`);
      balances.set(wallet, reply.body?.balance);
    }
    const same = [...expected].every(([w, b]) => balances.get(w) === b);
    if ((deposits?.lag === 0 && same) || Date.now() > deadline) return balances;
    await sleep(500);
  }
}

export { between };
