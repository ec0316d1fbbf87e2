import type { Broker, StreamSpec } from "../../broker/port.ts";
import type { PublishMessageOptions } from "../../define/consumer.ts";

const maxBackoffMs = 2_000;
const encoder = new TextEncoder();

/** Whether a NATS subject matches a stream's subject pattern (`*` one token, `>` the rest). */
export function subjectMatches(subject: string, pattern: string): boolean {
  const s = subject.split(".");
  const p = pattern.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return s.length === p.length;
}

/** `ctx.publish` of a consumer without `publishTo`. */
export function publishUnavailable(consumer: string): () => Promise<never> {
  return () => Promise.reject(new TypeError(`consumer "${consumer}" has no \`publishTo\` stream: ctx.publish is not available`));
}

/**
 * `ctx.publish` of a consumer (or topic consumer) with a `publishTo` stream: its own messages, sent
 * while it handles a message and waited for (the broker stored them) before that message counts
 * as handled. Each gets the id `{consumer}:{message key}:{n}` — the same when the message is
 * delivered again — so the stream drops a re-publish within its duplicate window.
 */
export class MessagePublisher {
  private ensured: Promise<void> | undefined;
  private failing = false;

  /** Publishing fails (the broker away) and waits to try again. */
  get brokerAway(): boolean {
    return this.failing;
  }

  constructor(
    private readonly consumer: string,
    private readonly stream: StreamSpec,
    private readonly broker: Broker,
    private readonly log: (line: string) => void,
  ) {
    const { name, subjects } = stream as Partial<StreamSpec>;
    if (typeof name !== "string" || name === "" || !Array.isArray(subjects) || subjects.length === 0 || !subjects.every((x) => typeof x === "string" && x !== "")) {
      throw new TypeError(`consumer "${consumer}": publishTo needs a stream name and at least one subject, e.g. { name: "ORDERS", subjects: ["orders.>"] }`);
    }
  }

  /** The `publish` for handling one message, whose key (feed position, or idempotency key) is `key`. */
  forMessage(key: string, running: () => boolean): (subject: string, message: unknown, options?: PublishMessageOptions) => Promise<void> {
    let n = 0;
    return async (subject, message, options = {}) => {
      const id = `${this.consumer}:${key}:${n++}`;
      if (typeof subject !== "string" || !this.stream.subjects.some((pattern) => subjectMatches(subject, pattern))) {
        throw new TypeError(`ctx.publish: subject ${JSON.stringify(subject)} is not in stream ${this.stream.name} (${this.stream.subjects.join(", ")})`);
      }
      const text = JSON.stringify(message);
      if (text === undefined) throw new TypeError("ctx.publish: the message must be JSON (not undefined or a function)");
      const headers = {
        "ce-specversion": "1.0",
        "ce-type": options.type ?? `${this.consumer}.message`,
        "ce-source": `sagaflow/${this.consumer}`,
        "ce-id": id,
        "ce-time": new Date().toISOString(),
        "content-type": "application/json",
      };
      // The broker away: wait and try again (the message stays in hand), unless the consumer stops.
      for (let backoff = 100; ; backoff = Math.min(backoff * 2, maxBackoffMs)) {
        try {
          this.ensured ??= this.broker.ensureStream(this.stream).catch((error: unknown) => {
            this.ensured = undefined;
            throw error;
          });
          await this.ensured;
          await this.broker.publish(subject, encoder.encode(text), { msgId: id, headers });
          this.failing = false;
          return;
        } catch (error) {
          if (!running()) throw error;
          if (!this.failing) this.log(`sagaflow: consumer ${this.consumer}: publishing to ${this.stream.name} failed: ${String(error)}; retrying`);
          this.failing = true;
          await new Promise((resolve) => setTimeout(resolve, backoff));
        }
      }
    };
  }
}
