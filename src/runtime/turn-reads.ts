/**
 * A turn's three reads — the instance's state, stored replies, durable eager prefixes — each a
 * value or a promise, as one: the values themselves when none is in flight (the usual turn: a
 * cached copy is no promise; the caller's `await` is then the turn's one microtask), a promise of
 * them otherwise. Several in flight are awaited together (one round trip on PostgreSQL), one by a
 * single `then`: Promise.all, and the `await`s an async function makes, were a tenth of a
 * transfer's promises.
 */
export function turnReads<A, B, C>(a: A | Promise<A>, b: B | Promise<B>, c: C | Promise<C>): [A, B, C] | Promise<[A, B, C]> {
  const inFlight = Number(a instanceof Promise) + Number(b instanceof Promise) + Number(c instanceof Promise);
  if (inFlight > 1) return Promise.all([a, b, c]);
  if (a instanceof Promise) return a.then((value) => [value, b as B, c as C]);
  if (b instanceof Promise) return b.then((value) => [a, value, c as C]);
  if (c instanceof Promise) return c.then((value) => [a, b, value]);
  return [a, b, c];
}
