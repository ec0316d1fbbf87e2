/**
 * Every error Sagaflow reports carries a stable `code`, the HTTP status it maps to, and whether
 * the same call may succeed if simply tried again (`retryable`). Callers branch on `code`.
 */
export class SagaflowError extends Error {
  override readonly name = "SagaflowError";
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
 * True for a refusal: a domain error from `fx.error`, or bad input — something trying again will
 * not change. Workflow steps use it to tell refusals (decide) from failures (let the engine retry).
 */
export function isRefusal(error: unknown): error is SagaflowError {
  return error instanceof SagaflowError && !error.retryable && error.status < 500;
}

/** The error a refused call raises, with the status its handler gave (400 by default). */
export function refusalError(reply: { code: string; message: string; status?: number }): SagaflowError {
  return new SagaflowError(reply.code, reply.message, { status: reply.status ?? 400 });
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
  overloaded: (what: string) =>
    new SagaflowError("overloaded", `${what} is full; try again shortly`, {
      status: 503,
      retryable: true,
    }),
  conflict: (component: string, id: string) =>
    new SagaflowError(
      "write_conflict",
      `${component} "${id}" kept changing under this command; try again`,
      { status: 503, retryable: true },
    ),
  stopped: () =>
    new SagaflowError("shutting_down", "the service is shutting down", {
      status: 503,
      retryable: true,
    }),
};
