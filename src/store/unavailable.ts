/**
 * Whether an error means the database could not be reached or dropped the connection, rather
 * than refused the work: the same request can succeed once it is back. The ingress answers these
 * 503 store_unavailable with Retry-After instead of a 500.
 */
export function isStoreUnavailable(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (networkCodes.has(code) || serverGoneAway.test(code))) return true;
    if (lostConnection.test(e.message)) return true;
  }
  return false;
}

const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
/**
 * PostgreSQL SQLSTATEs: class 08 (connection exception); 57P01–57P03 (shutting down, or not yet
 * up); 25P03 (the session sat idle in a transaction too long and was ended).
 */
const serverGoneAway = /^(08...|57P0[123]|25P03)$/;
/** node-postgres says these without a code. */
const lostConnection = /^Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/;
