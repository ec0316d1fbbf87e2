import type { TopicConsumerOptions, TopicMessageInfo } from "../../define/topic.ts";
import { errors } from "../../define/errors.ts";
import { validateInput } from "../validate-input.ts";

/** A message as the runner handles it: from the broker, or from a parked row (`ack` then does nothing). */
export interface RawTopicMessage extends TopicMessageInfo {
  /**
   * Which making of its stream it came from: 0 for the first this consumer saw, then 1, 2, … each
   * time the stream was deleted and made again (absent on messages parked before it was kept).
   */
  streamEpoch?: number;
  text: string;
  ack(): void;
  working(): void;
}

export type ParsedTopicMessage =
  | { ok: true; body: unknown; key: string; idempotencyKey: string }
  | { ok: false; key: string | undefined; error: { code: string; message: string } };

/**
 * Parses and checks a message's body and finds its keys. A bad body keeps the key only where the
 * key does not come from the body (subject token or header): it then holds back that key.
 */
export async function parseTopicMessage(options: TopicConsumerOptions<unknown>, name: string, message: RawTopicMessage): Promise<ParsedTopicMessage> {
  const outerKey = keyWithoutBody(options, message);
  let body: unknown;
  try {
    body = JSON.parse(message.text);
  } catch (error) {
    return { ok: false, key: outerKey, error: { code: "invalid_json", message: `the body is not JSON: ${error instanceof Error ? error.message : String(error)}` } };
  }
  try {
    body = await validateInput(options.schema, body, `topic consumer ${name}`);
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return { ok: false, key: outerKey, error: { code: e.code ?? "invalid_input", message: e.message ?? String(error) } };
  }
  try {
    const key = outerKey ?? (typeof options.key === "function" ? options.key(body, message) : message.subject);
    const idempotencyKey = options.idempotencyKey ? options.idempotencyKey(body, message) : defaultIdempotencyKey(message);
    if (typeof key !== "string" || key === "" || typeof idempotencyKey !== "string" || idempotencyKey === "") {
      throw errors.invalidInput("the ordering key and idempotency key must be non-empty strings");
    }
    return { ok: true, body, key, idempotencyKey };
  } catch (error) {
    return { ok: false, key: undefined, error: { code: "invalid_key", message: error instanceof Error ? error.message : String(error) } };
  }
}

/**
 * The sequence in this making of the stream: `{seq}`, then `{seq}@{epoch}` once the stream was
 * deleted and made again (its sequences start over: a new message must not meet an old one's
 * records). The first making keeps the bare sequence, as keys were before epochs were kept.
 */
function defaultIdempotencyKey(message: RawTopicMessage): string {
  return !message.streamEpoch ? String(message.seq) : `${message.seq}@${message.streamEpoch}`;
}

function keyWithoutBody(options: TopicConsumerOptions<unknown>, message: TopicMessageInfo): string | undefined {
  const spec = options.key;
  if (spec === undefined || typeof spec === "function") return undefined;
  if ("header" in spec) return message.headers[spec.header] ?? "";
  return message.subject.split(".")[spec.subjectToken] ?? "";
}
