/**
 * How the SQLite store keeps values: as JSON text, SQL NULL standing for `undefined`, so that
 * `null` and "no value" both round-trip. Reading them back: `decode` in ../rows.ts (shared with
 * the PostgreSQL store).
 */

/** Throws on what JSON cannot hold (a BigInt, a cycle). */
export function encode(value: unknown): string | null {
  return JSON.stringify(value) ?? null;
}
