import { SagaflowError } from "../define/errors.ts";
import { defaultRetryTiming, retryDelayMs, type RetryTiming } from "./retry-delay.ts";

/**
 * Headers sent with every request: fixed, or computed per request (a token that rotates).
 *
 * @example
 * const headers: HeadersSource = () => ({ authorization: `Bearer ${currentToken()}` });
 */
export type HeadersSource = Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);

/** How the typed HTTP client talks to a service; see `httpClient` for what each option means. */
export interface TransportOptions {
  headers?: HeadersSource;
  retries?: number;
  retryTiming?: Partial<RetryTiming>;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** 30 s for one attempt: far above a healthy answer, far below undici's 5-minute headers timeout. */
export const defaultTimeoutMs = 30_000;

/** setTimeout's longest delay; a longer one would fire at once. */
const maxTimerMs = 2 ** 31 - 1;

/** One request, as the typed client describes it. */
export interface TransportRequest {
  method: "GET" | "POST";
  /** Path segments, not yet encoded. */
  segments: readonly string[];
  /** Query parameters, already as strings. */
  query?: ReadonlyArray<readonly [string, string]>;
  /** Sent as JSON (POST only). */
  body?: unknown;
  idempotencyKey?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** How long the server may hold the answer on purpose (`?wait=`): added to each attempt's timeout. */
  holdMs?: number;
}

/** An answer read to its end: a body cut short fails the attempt like a dropped connection. */
interface Answer {
  status: number;
  statusText: string;
  headers: Headers;
  text: string;
}

/**
 * Sends requests to one base URL: JSON in and out, every error answer turned into a
 * `SagaflowError`, 503s and requests without an answer (refused, dropped, cut short, timed out)
 * retried when trying again cannot apply a command twice (a GET, or a POST carrying an
 * idempotency key).
 */
export class Transport {
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly retries: number;
  private readonly timing: RetryTiming;
  private readonly timeoutMs: number;
  private position: number | undefined;

  constructor(baseUrl: string, private readonly options: TransportOptions = {}) {
    // Checked now, so that a typo fails at start-up rather than on the first call.
    const url = new URL(baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`httpClient: the base URL must be http(s)://…, not ${JSON.stringify(baseUrl)}`);
    }
    this.base = url.href.replace(/\/+$/, "");
    this.fetch = options.fetch ?? globalThis.fetch;
    this.retries = options.retries ?? 3;
    if (!Number.isInteger(this.retries) || this.retries < 0) throw new TypeError("httpClient: retries must be a whole number ≥ 0");
    this.timing = { ...defaultRetryTiming, ...options.retryTiming };
    this.timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1 || this.timeoutMs > maxTimerMs) {
      throw new TypeError("httpClient: timeoutMs must be a whole number of milliseconds ≥ 1");
    }
  }

  /** The highest `Sagaflow-Position` a command's answer carried, for read-your-writes. */
  get lastPosition(): number | undefined {
    return this.position;
  }

  async send(request: TransportRequest): Promise<unknown> {
    const url = this.url(request);
    const retryable = request.method === "GET" || request.idempotencyKey !== undefined;
    const timeoutMs = Math.min(maxTimerMs, this.timeoutMs + (request.holdMs ?? 0));
    for (let retry = 0; ; retry++) {
      const init = await this.init(request);
      let answer: Answer;
      try {
        answer = await this.attempt(url, init, timeoutMs, request.signal);
      } catch (error) {
        // The caller's own abort is not a network failure: it ends the call at once.
        if (request.signal?.aborted) throw abortReason(request.signal);
        if (!retryable || retry >= this.retries) throw networkError(request, url, error);
        await sleep(retryDelayMs(retry + 1, null, this.timing), request.signal);
        continue;
      }
      if (answer.status === 503 && retryable && retry < this.retries) {
        await sleep(retryDelayMs(retry + 1, answer.headers.get("retry-after"), this.timing), request.signal);
        continue;
      }
      return this.read(request, url, answer);
    }
  }

  /**
   * One request and its whole answer, within `timeoutMs`: the timer covers the body too, for a
   * server can send its headers and then stall.
   */
  private async attempt(url: string, init: RequestInit, timeoutMs: number, signal: AbortSignal | undefined): Promise<Answer> {
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(new AttemptTimeout(timeoutMs)), timeoutMs);
    let response: Response | undefined;
    try {
      response = await this.fetch(url, { ...init, signal: signal === undefined ? timer.signal : AbortSignal.any([signal, timer.signal]) });
      const text = await response.text();
      return { status: response.status, statusText: response.statusText, headers: response.headers, text };
    } catch (error) {
      if (timer.signal.aborted) throw timer.signal.reason;
      if (response !== undefined) throw new Error(`the answer was cut short after its headers (${failure(error)})`, { cause: error });
      throw error;
    } finally {
      clearTimeout(timeout);
    }
  }

  private url(request: TransportRequest): string {
    const path = request.segments.map((segment) => encodeURIComponent(segment)).join("/");
    const query = request.query && request.query.length > 0 ? `?${new URLSearchParams(request.query as [string, string][])}` : "";
    return `${this.base}/${path}${query}`;
  }

  private async init(request: TransportRequest): Promise<RequestInit> {
    const shared = typeof this.options.headers === "function" ? await this.options.headers() : this.options.headers;
    const headers: Record<string, string> = { accept: "application/json", ...shared, ...request.headers };
    if (request.method === "POST") headers["content-type"] = "application/json";
    if (request.idempotencyKey !== undefined) headers["idempotency-key"] = request.idempotencyKey;
    const init: RequestInit = { method: request.method, headers };
    if (request.method === "POST") init.body = JSON.stringify(request.body ?? {});
    return init;
  }

  private read(request: TransportRequest, url: string, response: Answer): unknown {
    const { method } = request;
    const text = response.text;
    if (response.status >= 200 && response.status < 300) {
      const position = response.headers.get("sagaflow-position");
      if (position !== null && /^\d+$/.test(position)) this.position = Math.max(this.position ?? 0, Number(position));
      if (text === "") return undefined;
      try {
        return JSON.parse(text);
      } catch {
        throw new SagaflowError("invalid_response", `${method} ${url} answered ${response.status} with a body that is not JSON: ${excerpt(text)}`, {
          status: response.status,
        });
      }
    }
    throw errorFromResponse(request, url, response, text);
  }
}

/**
 * A Sagaflow error answer (`{"error": {"code", "message", "details"}}`) as the `SagaflowError`
 * the service raised; any other error answer (a proxy's HTML page) as code `http_error`. One
 * that may be tried again carries the command's key (`details.idempotencyKey`), as a network
 * error does: a generated key is the only way to send the same command again safely.
 */
function errorFromResponse(request: TransportRequest, url: string, response: Answer, text: string): SagaflowError {
  const { method } = request;
  const status = response.status;
  const retryable = status === 503 || response.headers.has("retry-after");
  const withKey = (details: unknown): unknown =>
    !retryable || request.idempotencyKey === undefined
      ? details
      : { ...(typeof details === "object" && details !== null ? details : {}), idempotencyKey: request.idempotencyKey };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: unknown } | undefined)?.error as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  if (typeof error === "object" && error !== null && typeof error.code === "string") {
    const message = typeof error.message === "string" ? error.message : error.code;
    return new SagaflowError(error.code, message, { status, retryable, details: withKey(error.details) });
  }
  const what = text.trim() === "" ? response.statusText : excerpt(text);
  return new SagaflowError("http_error", `${method} ${url} answered ${status}: ${what}`, { status, retryable, details: withKey(undefined) });
}

/**
 * The request got no whole answer (refused, reset, cut short, timed out): status 0, for no
 * usable HTTP status was read. The command may have been applied or not; `details.idempotencyKey` is the key
 * it was sent with (the caller's or a generated one), to send it again safely. A command sent
 * without a key is not `retryable`: sent again, it may be applied twice.
 */
function networkError(request: TransportRequest, url: string, cause: unknown): SagaflowError {
  const keyed = request.idempotencyKey !== undefined;
  const details = keyed ? { idempotencyKey: request.idempotencyKey } : undefined;
  const safe = keyed || request.method === "GET";
  const unsafe = safe ? "" : " (sent without an idempotency key: it may have been applied, and sending it again may apply it twice)";
  return new SagaflowError("network_error", `${request.method} ${url} got no answer: ${failure(cause)}${unsafe}`, { status: 0, retryable: safe, details, cause });
}

/** A failed fetch in a few words: undici's code (`ECONNREFUSED`, `UND_ERR_SOCKET`) when it gives one. */
function failure(error: unknown): string {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === "string" ? code : error instanceof Error ? error.message : String(error);
}

/** Why an attempt was given up: no whole answer within the timeout. */
class AttemptTimeout extends Error {
  override readonly name = "TimeoutError";
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
  }
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/** The caller's own abort reason, passed through as it is (an Error unless they aborted with something else). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException(String(reason ?? "aborted"), "AbortError");
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
