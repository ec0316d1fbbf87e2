import { createHash } from "node:crypto";

/** PostgreSQL keeps the first 63 bytes of an identifier and silently drops the rest. */
const MAX_IDENTIFIER_BYTES = 63;
const HASH_CHARS = 16;

/**
 * The PostgreSQL name of a view's table or index. physicalTable() names can be longer than 63
 * bytes (view and table names are up to 63 each); cut by PostgreSQL, two generations of one table
 * would be one table, and a rebuild would drop the table it had just filled. A longer name keeps
 * its start and ends with a hash of the whole name instead.
 */
export function postgresName(name: string): string {
  if (Buffer.byteLength(name) <= MAX_IDENTIFIER_BYTES) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, HASH_CHARS);
  let start = name.slice(0, MAX_IDENTIFIER_BYTES - HASH_CHARS - 1);
  while (Buffer.byteLength(start) > MAX_IDENTIFIER_BYTES - HASH_CHARS - 1) start = start.slice(0, -1);
  return `${start}_${hash}`;
}
