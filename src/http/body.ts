import type { IncomingMessage } from "node:http";
import { SagaflowError } from "../define/errors.ts";
import { checkInput } from "./input-check.ts";
import { askForBody } from "./expect-continue.ts";

export const defaultMaxBodyBytes = 1024 * 1024;

/**
 * Reads a JSON request body of at most `maxBytes`; an empty body is `{}`. The value is checked by
 * `checkInput` (nesting depth, characters every store can keep) before anyone else reads it.
 *
 * The body must be declared JSON, except an empty one from a client that is not a web page (no
 * `Origin`, as from curl): a page on another site can send a body or an empty POST without a
 * content type and no CORS preflight (a `no-cors` fetch), but not one declared JSON, so a command
 * exposed to anyone cannot be run by a page that was not let in by `cors`.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers["content-type"];
  if (type !== undefined && !/^application\/(.+\+)?json\s*(;|$)/i.test(type)) throw notJson(`not ${type}`);
  if (type === undefined && req.headers.origin !== undefined) throw notJson("a web page must declare it (no content-type was sent)");
  // JSON is UTF-8 (RFC 8259): a body declared in another charset would be misread, not converted.
  const charset = type === undefined ? undefined : /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(type)?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new SagaflowError("unsupported_media_type", `send JSON in UTF-8, not charset=${charset}`, { status: 415 });
  }
  // Refused before a byte is read; what the client still sends is read and dropped after the answer (sendJson).
  if (Number(req.headers["content-length"] ?? 0) > maxBytes) throw tooLarge(maxBytes);
  // Every check is passed: a client waiting for `100 Continue` may send the body now.
  askForBody(req);
  const text = utf8Text(await readAll(req, maxBytes)).trim();
  if (text === "") return {};
  if (type === undefined) throw notJson("no content-type was sent");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SagaflowError("malformed_json", `the body is not valid JSON: ${(error as Error).message}`);
  }
  checkInput(value);
  return value;
}

/** Fails on bytes that are not UTF-8, instead of putting U+FFFD in their place (which would be stored). */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function utf8Text(bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new SagaflowError("malformed_json", "the body is not valid UTF-8 (JSON is sent in UTF-8)");
  }
}

function notJson(why: string): SagaflowError {
  return new SagaflowError("unsupported_media_type", `send JSON (content-type: application/json): ${why}`, { status: 415 });
}

/**
 * The body's bytes, at most `maxBytes`. Listens to events rather than iterating the stream: the
 * async iterator costs a few percent of a small command's CPU. Past the limit it refuses with 413
 * at once, leaving the rest unread (paused) for the answer to drop.
 */
function readAll(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      stop();
      req.pause();
      reject(tooLarge(maxBytes));
    };
    const onEnd = () => {
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    // The request stream fails only when its connection does (the client went away mid-body,
    // "aborted"): the client's doing, not a fault of ours to log as an internal error.
    const onError = (error: Error) => {
      stop();
      reject(new SagaflowError("client_closed", `the client closed the connection before the body ended (${error.message})`));
    };
    const onClose = () => {
      stop();
      reject(new SagaflowError("client_closed", "the client closed the connection before the body ended"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

function tooLarge(maxBytes: number): SagaflowError {
  return new SagaflowError("payload_too_large", `the body is larger than ${maxBytes} bytes`, { status: 413 });
}

/**
 * Query-string input for GET queries: each value is read as JSON when it parses (`?n=5` is the
 * number 5, `?ok=true` a boolean), and as a plain string otherwise. Checked as a body is.
 */
export function inputFromQuery(params: URLSearchParams): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [name, raw] of params) {
    // `?status=a&status=b` meaning the last one would answer a question nobody asked.
    if (Object.hasOwn(input, name)) throw new SagaflowError("invalid_input", `the query parameter ${JSON.stringify(name.slice(0, 64))} is given more than once: give it once`);
    try {
      input[name] = JSON.parse(raw);
    } catch {
      input[name] = raw;
    }
  }
  checkInput(input);
  return input;
}

/**
 * The request's `Idempotency-Key`, if any. Node joins repeated headers with ", " (two keys would
 * silently become one, "k8, k9"): more than one is refused.
 */
export function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const keys = req.headersDistinct["idempotency-key"];
  if (keys === undefined) return undefined;
  if (keys.length > 1) {
    throw new SagaflowError("invalid_idempotency_key", `send one Idempotency-Key header, not ${keys.length}`);
  }
  return keys[0];
}
