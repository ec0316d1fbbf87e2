import { createHash } from "node:crypto";

/** JSON with object keys sorted, so that `{a,b}` and `{b,a}` are the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    const record = value as Record<string, unknown>;
    return `{${keys
      .filter((k) => record[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Identifies a request for idempotency: the same key with another hash is refused. */
export function requestHash(handler: string, input: unknown): string {
  return createHash("sha256").update(handler).update("\0").update(canonical(input)).digest("base64url");
}
