import type { IncomingMessage } from "node:http";
import { SagaflowError } from "../define/errors.ts";

export const defaultMaxBodyBytes = 1024 * 1024;

/** Reads a JSON request body of at most `maxBytes`; an empty body is `{}`. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers["content-type"];
  if (type !== undefined && !/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    throw new SagaflowError("unsupported_media_type", `send JSON (content-type: application/json), not ${type}`, {
      status: 415,
    });
  }
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SagaflowError("malformed_json", `the body is not valid JSON: ${(error as Error).message}`);
  }
}

function tooLarge(maxBytes: number): SagaflowError {
  return new SagaflowError("payload_too_large", `the body is larger than ${maxBytes} bytes`, { status: 413 });
}

/**
 * Query-string input for GET queries: each value is read as JSON when it parses (`?n=5` is the
 * number 5, `?ok=true` a boolean), and as a plain string otherwise.
 */
export function inputFromQuery(params: URLSearchParams): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [name, raw] of params) {
    try {
      input[name] = JSON.parse(raw);
    } catch {
      input[name] = raw;
    }
  }
  return input;
}
