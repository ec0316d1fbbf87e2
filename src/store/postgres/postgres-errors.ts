/**
 * PostgreSQL's and node-postgres's ways of saying "not now" (codes, SQLSTATEs, messages), turned
 * into the one error type the engine and the HTTP layer know: `StoreUnavailableError` with a
 * reason. Everything else (a refused statement, a bug) is left as it is. Nothing outside this
 * folder knows a SQLSTATE.
 */
import { StoreUnavailableError, storeUnavailableMeaning, type StoreUnavailableReason } from "../../define/errors.ts";

/** Errors Node's sockets raise when the server cannot be reached or the connection dropped. */
const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
/**
 * SQLSTATEs of a server out of reach: class 08 (connection exception); 57P01–57P03 (shutting down,
 * or not yet up); 25P03 (the session sat idle in a transaction too long and was ended); 53300 (too
 * many connections).
 */
const serverGoneAway = /^(08...|57P0[123]|25P03|53300)$/;
/** node-postgres says these without a code. */
const lostConnection = /^Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/;

const retryAfterSeconds: Record<StoreUnavailableReason, number> = { unreachable: 1, disk_full: 10, lock_timeout: 1, statement_timeout: 2 };

/** Why the store cannot do the work right now, if `error` (or one of its causes) says so. */
export function unavailableReason(error: unknown): StoreUnavailableReason | undefined {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    if (e instanceof StoreUnavailableError) return e.reason;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (networkCodes.has(code) || serverGoneAway.test(code)) return "unreachable";
      if (code === "55P03") return "lock_timeout"; // lock_not_available: lock_timeout ran out
      if (code === "57014") return "statement_timeout"; // query_canceled: statement_timeout (or an operator's cancel)
      if (code === "53100") return "disk_full";
    }
    if (lostConnection.test(e.message)) return "unreachable";
  }
  return undefined;
}

/** `error` as a StoreUnavailableError when it means the store is away for a while; else `error` itself. */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const reason = unavailableReason(error);
  if (reason === undefined) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(reason, `${storeUnavailableMeaning[reason]} (${detail})`, { retryAfterSeconds: retryAfterSeconds[reason], cause: error });
}

/** Runs `work`, turning an outage of the store into a StoreUnavailableError. */
export async function translatingErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toStoreError(error);
  }
}
