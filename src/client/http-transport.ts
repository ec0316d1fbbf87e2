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
  fetch?: typeof fetch;
}

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
}

/**
 * Sends requests to one base URL: JSON in and out, every error answer turned into a
 * `SagaflowError`, 503s and dropped connections retried when trying again cannot apply a
 * command twice (a GET, or a POST carrying an idempotency key).
 */
export class Transport {
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly retries: number;
  private readonly timing: RetryTiming;
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
  }

  /** The highest `Sagaflow-Position` a command's answer carried, for read-your-writes. */
  get lastPosition(): number | undefined {
    return this.position;
  }

  async send(request: TransportRequest): Promise<unknown> {
    const url = this.url(request);
    const retryable = request.method === "GET" || request.idempotencyKey !== undefined;
    for (let retry = 0; ; retry++) {
      const init = await this.init(request);
      let response: Response;
      try {
        response = await this.fetch(url, init);
      } catch (error) {
        // The caller's own abort is not a network failure: it ends the call at once.
        if (request.signal?.aborted) throw error;
        if (!retryable || retry >= this.retries) throw networkError(request.method, url, error);
        await sleep(retryDelayMs(retry + 1, null, this.timing), request.signal);
        continue;
      }
      if (response.status === 503 && retryable && retry < this.retries) {
        // Read to the end, so the connection can be reused for the retry.
        await response.arrayBuffer().catch(() => undefined);
        await sleep(retryDelayMs(retry + 1, response.headers.get("retry-after"), this.timing), request.signal);
        continue;
      }
      return this.read(request.method, url, response);
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
    if (request.signal !== undefined) init.signal = request.signal;
    return init;
  }

  private async read(method: string, url: string, response: Response): Promise<unknown> {
    const text = await response.text();
    if (response.ok) {
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
    throw errorFromResponse(method, url, response, text);
  }
}

/**
 * A Sagaflow error answer (`{"error": {"code", "message", "details"}}`) as the `SagaflowError`
 * the service raised; any other error answer (a proxy's HTML page) as code `http_error`.
 */
function errorFromResponse(method: string, url: string, response: Response, text: string): SagaflowError {
  const status = response.status;
  const retryable = status === 503 || response.headers.has("retry-after");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: unknown } | undefined)?.error as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  if (typeof error === "object" && error !== null && typeof error.code === "string") {
    const message = typeof error.message === "string" ? error.message : error.code;
    return new SagaflowError(error.code, message, { status, retryable, details: error.details });
  }
  const what = text.trim() === "" ? response.statusText : excerpt(text);
  return new SagaflowError("http_error", `${method} ${url} answered ${status}: ${what}`, { status, retryable });
}

/** The request never got an answer (refused, reset, DNS): status 0, for no HTTP status was seen. */
function networkError(method: string, url: string, cause: unknown): SagaflowError {
  const code = (cause as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  const why = typeof code === "string" ? code : cause instanceof Error ? cause.message : String(cause);
  return new SagaflowError("network_error", `${method} ${url} got no answer: ${why}`, { status: 0, retryable: true, cause });
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
