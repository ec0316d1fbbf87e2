/**
 * A turn's three reads — the instance's state, stored replies, durable eager prefixes — each a
 * value or a promise. Awaited together (one round trip on PostgreSQL) when more than one is in
 * flight; otherwise one by one, because the usual turn reads one thing or nothing (a cached copy
 * is no promise) and Promise.all made a tenth of a transfer's promises. There is always at least
 * one await: the turn goes on in a later microtask, as it always has.
 */
export async function awaitReads<A, B, C>(a: A | Promise<A>, b: B | Promise<B>, c: C | Promise<C>): Promise<[A, B, C]> {
  const inFlight = [a, b, c].filter((read) => read instanceof Promise).length;
  if (inFlight > 1) return Promise.all([a, b, c]);
  return [await a, b instanceof Promise ? await b : b, c instanceof Promise ? await c : c];
}
