/**
 * Every error Sagaflow reports carries a stable `code`, the HTTP status it maps to, and whether
 * the same call may succeed if simply tried again (`retryable`). Callers branch on `code`.
 */
export class SagaflowError extends Error {
  override readonly name: string = "SagaflowError";
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(
    code: string,
    message: string,
    options: { status?: number; retryable?: boolean; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? 400;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * A refusal: the handler (or the platform, for bad input) said no with a 4xx. Trying the same call
 * again will not change the answer; change the input or the state first.
 */
export class RefusalError extends SagaflowError {
  override readonly name: string = "RefusalError";

  constructor(code: string, message: string, options: { status?: number; details?: unknown; cause?: unknown } = {}) {
    super(code, message, { ...options, status: options.status ?? 400, retryable: false });
  }
}

/**
 * Not now: the same call may well succeed after `retryAfterSeconds` (HTTP 503 with `Retry-After`).
 * `overloaded`, `write_conflict`, `shutting_down`, and the store being unavailable.
 */
export class RetryLaterError extends SagaflowError {
  override readonly name: string = "RetryLaterError";
  /** How long a caller should wait before trying again (the `Retry-After` header). */
  readonly retryAfterSeconds: number;

  constructor(code: string, message: string, options: { retryAfterSeconds?: number; details?: unknown; cause?: unknown } = {}) {
    super(code, message, { ...options, status: 503, retryable: true });
    this.retryAfterSeconds = Math.max(1, Math.ceil(options.retryAfterSeconds ?? 1));
  }
}

/**
 * Why the store cannot take work right now:
 * - `unreachable`: the database cannot be reached or dropped the connection (restart, failover);
 * - `disk_full`: no space left for the database file or its journal;
 * - `lock_timeout`: a lock the write needs was held by another session longer than the bound;
 * - `statement_timeout`: a statement ran longer than the bound.
 */
export type StoreUnavailableReason = "unreachable" | "disk_full" | "lock_timeout" | "statement_timeout";

/**
 * What each reason means to a caller, naming no database, address or file: the whole message a
 * service's public callers get, and the start of the one the PostgreSQL adapter writes for
 * operators and the log (it adds the driver's detail).
 */
export const storeUnavailableMeaning: Readonly<Record<StoreUnavailableReason, string>> = {
  unreachable: "the database cannot be reached right now; try again",
  disk_full: "the disk holding the database is full; try again later",
  lock_timeout: "the data this needs is locked by another database session; try again",
  statement_timeout: "the database did not finish the work in time; try again",
};

/**
 * The store could not do the work, for a reason that passes (see `StoreUnavailableReason`); nothing
 * of the failed work was kept. Store adapters turn their own error codes into this one type, so the
 * engine (a step, a consumer or a timer uses up no attempt on it) and the HTTP layer (503
 * `store_unavailable` with `Retry-After`) need to know no database's codes.
 */
export class StoreUnavailableError extends RetryLaterError {
  override readonly name: string = "StoreUnavailableError";
  readonly reason: StoreUnavailableReason;

  constructor(reason: StoreUnavailableReason, message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super("store_unavailable", message, { ...options, details: { reason } });
    this.reason = reason;
  }
}

/** True when the store could not do the work for a reason that passes: retry later, using up no attempt. */
export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}

/**
 * This node's code cannot read what other code wrote: an entity's stored event of a type it has
 * no handler for — a newer version's, during a rolling deploy (or a handler removed while such
 * events exist). Not a failure of the work that met it: a step or consumer tries again without
 * using an attempt, a caller gets 503 and may try another node.
 */
export class UnknownEventTypeError extends RetryLaterError {
  override readonly name: string = "UnknownEventTypeError";

  constructor(entity: string, type: string) {
    super(
      "unknown_event_type",
      `entity "${entity}" has no handler for event type "${type}", which its stored events hold: they were written by code that has one ` +
        `(a newer version, on another node?). This node cannot load such an instance until it runs that code.`,
      { retryAfterSeconds: 5 },
    );
  }
}

/** Not the fault of the work that met it — the store out of reach, or this node's code behind the data — so no attempt is used up. */
export function isNotTheWorksFault(error: unknown): boolean {
  return error instanceof StoreUnavailableError || error instanceof UnknownEventTypeError;
}

/**
 * True for a refusal: a domain error from `fx.error`, or bad input — something trying again will
 * not change. Workflow steps use it to tell refusals (decide) from failures (let the engine retry).
 */
export function isRefusal(error: unknown): error is SagaflowError {
  return error instanceof SagaflowError && !error.retryable && error.status < 500;
}

/** The error a refused call raises, with the status its handler gave (400 by default). */
export function refusalError(reply: { code: string; message: string; status?: number }): RefusalError {
  return new RefusalError(reply.code, reply.message, { status: reply.status ?? 400 });
}

/** Errors the platform itself raises; user code raises its own with `fx.error(code, message)`. */
export const errors = {
  unknownComponent: (name: string) =>
    new SagaflowError("unknown_component", `no component named "${name}"`, { status: 404 }),
  unknownCommand: (component: string, command: string) =>
    new SagaflowError("unknown_command", `component "${component}" has no command "${command}"`, {
      status: 404,
    }),
  notReadOnly: (component: string, command: string) =>
    new SagaflowError(
      "method_not_allowed",
      `"${component}.${command}" changes state: call it with POST, not GET`,
      { status: 405 },
    ),
  invalidId: (id: string, why: string) =>
    new SagaflowError("invalid_id", `invalid id ${JSON.stringify(id.slice(0, 64))}: ${why}`),
  invalidInput: (message: string, details?: unknown) =>
    new SagaflowError("invalid_input", message, { details }),
  deleted: (component: string, id: string) =>
    new SagaflowError("deleted", `${component} "${id}" was deleted and accepts no more commands`, {
      status: 410,
    }),
  idempotencyConflict: (key: string) =>
    new SagaflowError(
      "idempotency_key_reused",
      `idempotency key "${key}" was already used with a different command or input`,
      { status: 409 },
    ),
  overloaded: (what: string) => new RetryLaterError("overloaded", `${what} is full; try again shortly`),
  conflict: (component: string, id: string) =>
    new RetryLaterError("write_conflict", `${component} "${id}" kept changing under this command; try again`),
  stopped: () => new RetryLaterError("shutting_down", "the service is shutting down"),
  /** A call of a step attempt the engine gave up on (timed out, stopped): not sent, or not kept. */
  runAbandoned: () =>
    new SagaflowError("run_abandoned", "this step attempt was stopped (it timed out, or the workflow was terminated or is over); its calls are no longer sent", {
      retryable: true,
      status: 503,
    }),
};
