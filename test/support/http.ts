import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";

/**
 * Small HTTP helpers for tests against a Sagaflow ingress: JSON in, `{ status, body }` out, and
 * never an unbounded wait (every request has a timeout).
 */

export interface JsonResponse<T = any> {
  status: number;
  /** The parsed JSON body; `undefined` when the body is empty or not JSON (see `text`). */
  body: T;
  text: string;
  headers: Headers;
}

export interface JsonRequestOptions {
  method?: string;
  /** Sent as JSON (with content-type application/json). */
  body?: unknown;
  /** Sent exactly as given, instead of `body` (set the content-type yourself in `headers`). */
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Default 10 s; a request that takes longer rejects. */
  timeoutMs?: number;
}

function parseJson(text: string): any {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One request with `fetch`. Network failures reject (the caller decides what they mean). */
export async function requestJson<T = any>(url: string, options: JsonRequestOptions = {}): Promise<JsonResponse<T>> {
  const hasBody = options.body !== undefined || options.rawBody !== undefined;
  const headers: Record<string, string> = {
    ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
    ...options.headers,
  };
  const res = await fetch(url, {
    method: options.method ?? (hasBody ? "POST" : "GET"),
    headers,
    ...(options.rawBody !== undefined
      ? { body: options.rawBody }
      : options.body !== undefined
        ? { body: JSON.stringify(options.body) }
        : {}),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  return { status: res.status, body: parseJson(text), text, headers: res.headers };
}

/** POST `body` as JSON. */
export function postJson<T = any>(
  url: string,
  body: unknown = {},
  headers: Record<string, string> = {},
  timeoutMs?: number,
): Promise<JsonResponse<T>> {
  return requestJson<T>(url, { method: "POST", body, headers, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

/** GET, with an optional query (values sent as given: `{ n: 5 }` becomes `?n=5`). */
export function getJson<T = any>(url: string, query: Record<string, string | number | boolean> = {}): Promise<JsonResponse<T>> {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  const qs = params.toString();
  return requestJson<T>(qs === "" ? url : `${url}?${qs}`);
}

export interface RawResponse {
  status: number;
  body: any;
  text: string;
  headers: IncomingHttpHeaders;
}

export interface RawRequestOptions {
  method?: string;
  /** Sent byte for byte as the request target: no normalisation of "..", "%2F" and the like. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Send the body with chunked transfer-encoding (no content-length), in chunks of this size. */
  chunkSize?: number;
  /** Default 10 s. */
  timeoutMs?: number;
}

/**
 * One request with `node:http` on a connection of its own (no pooling), for what `fetch` will not
 * send (raw paths, chunked bodies). Resolves as soon as a complete response arrived, even if the
 * server then drops the connection while the body is still being sent; rejects on a network error
 * before a complete response, and on timeout (so a test never hangs).
 */
export function rawRequest(baseUrl: string, options: RawRequestOptions): Promise<RawResponse> {
  const base = new URL(baseUrl);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const headers: Record<string, string> = { ...options.headers };
    if (body !== undefined && options.chunkSize === undefined) headers["content-length"] = String(body.length);
    const req = httpRequest({
      host: base.hostname,
      port: base.port,
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      path: options.path,
      headers,
      agent: false,
    });
    const timer = setTimeout(() => {
      settle(() => reject(new Error(`no complete response within ${timeoutMs} ms`)));
      req.destroy();
    }, timeoutMs);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        settle(() => resolve({ status: res.statusCode ?? 0, body: parseJson(text), text, headers: res.headers }));
        req.destroy();
      });
      res.on("error", (error) => settle(() => reject(error)));
    });
    // After a complete response, errors from the upload (EPIPE, ECONNRESET) do not matter.
    req.on("error", (error) => settle(() => reject(error)));
    if (body === undefined) {
      req.end();
    } else if (options.chunkSize === undefined) {
      req.end(body);
    } else {
      void (async () => {
        for (let at = 0; at < body.length && !req.destroyed; at += options.chunkSize!) {
          if (!req.write(body.subarray(at, at + options.chunkSize!))) {
            await new Promise<void>((drained) => {
              const done = () => {
                req.off("drain", done);
                req.off("close", done);
                drained();
              };
              req.on("drain", done);
              req.on("close", done);
            });
          }
        }
        if (!req.destroyed) req.end();
      })();
    }
  });
}

/** A response body shaped `{"error": {"code", "message"}}`; returns the error object. */
export function assertErrorBody(
  res: { status: number; body: any; text: string },
  status: number,
  code: string,
): { code: string; message: string; details?: any } {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.equal(typeof res.body, "object", `body is not JSON: ${res.text}`);
  assert.equal(res.body?.error?.code, code, `expected code ${code}: ${res.text}`);
  assert.equal(typeof res.body.error.message, "string");
  assert.ok(res.body.error.message.length > 0, "the error message is empty");
  return res.body.error;
}
