import assert from "node:assert/strict";
import { getJson, postJson } from "../../test/support/http.ts";
import { sleep } from "../../test/support/server-process.ts";

/** What the orders example's HTTP tests share: its contract as small calls, and polling for outcomes. */

export interface LineInput {
  productId: string;
  quantity: number;
  price: number;
}

export const finalStatuses = new Set(["shipped", "cancelled"]);

export async function restock(base: string, productId: string, quantity: number): Promise<number> {
  const res = await postJson(`${base}/stock/${productId}/restock`, { quantity });
  assert.equal(res.status, 200, res.text);
  return res.body.available;
}

export async function stockOf(base: string, productId: string): Promise<{ available: number; reserved: number }> {
  const res = await getJson(`${base}/stock/${productId}/get`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

export async function place(base: string, id: string, customerId: string, lines: LineInput[]): Promise<void> {
  const res = await postJson(`${base}/order/${id}/place`, { customerId, lines });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body, { status: "placed" });
}

export async function orderOf(base: string, id: string): Promise<{ status: string; total: number; reason?: string }> {
  const res = await getJson(`${base}/order/${id}/get`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

export async function pay(base: string, orderId: string, amount: number): Promise<void> {
  const res = await postJson(`${base}/payment/${orderId}/pay`, { amount });
  assert.equal(res.status, 200, res.text);
}

export async function byStatus(base: string, status: string): Promise<Array<{ id: string; customerId: string; status: string; total: number }>> {
  const res = await getJson(`${base}/views/orders/byStatus`, { status: JSON.stringify(status) });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.body), ["orders"], res.text.slice(0, 300));
  return res.body.orders;
}

/** Polls `read` until `done(value)`: outcomes come from consumers, workflows and timers, asynchronously. */
export async function eventually<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last = await read();
  while (!done(last)) {
    if (Date.now() > end) assert.fail(`${what}: not reached within ${timeoutMs} ms; last: ${JSON.stringify(last).slice(0, 500)}`);
    await sleep(25);
    last = await read();
  }
  return last;
}

export const statusIs = (status: string) => (o: { status: string }) => o.status === status;
export const isFinal = (o: { status: string }) => finalStatuses.has(o.status);
