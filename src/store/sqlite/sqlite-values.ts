/**
 * How the SQLite store keeps values: as JSON text, SQL NULL standing for `undefined`, so that
 * `null` and "no value" both round-trip.
 */

/** Throws on what JSON cannot hold (a BigInt, a cycle). */
export function encode(value: unknown): string | null {
  return JSON.stringify(value) ?? null;
}

export function decode(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}
