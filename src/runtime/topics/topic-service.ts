import type { Broker } from "../../broker/port.ts";
import type { TopicConsumerDefinition, TopicProducerDefinition } from "../../define/topic.ts";
import type { ServiceComponent } from "../../define/service.ts";
import type { Store } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import type { Membership } from "../cluster/membership.ts";
import type { KeyedCall } from "../dispatcher.ts";
import type { ConsumerReport } from "../facades.ts";
import { TopicConsumerRunner } from "./topic-consumer-runner.ts";
import { TopicProducerRunner } from "./topic-producer-runner.ts";
import type { StartsTimers } from "../timers/timer-service.ts";

export interface TopicServiceHost {
  store: Store;
  clock: Clock;
  log: (line: string) => void;
  keyedCall: KeyedCall;
  timers: StartsTimers;
  broker: Broker | undefined;
}

/** The first component that needs a message broker: a topic consumer or producer, or a consumer that publishes. */
export function brokerUser(components: readonly ServiceComponent[]): ServiceComponent | undefined {
  return components.find((c) => c.kind === "topic-consumer" || c.kind === "topic-producer" || (c.kind === "consumer" && c.publishTo !== undefined));
}

/** The service's topic consumers and producers: one lease each, like feed consumers. */
export class TopicService {
  readonly consumers = new Map<string, TopicConsumerRunner>();
  readonly producers = new Map<string, TopicProducerRunner>();

  constructor(components: readonly ServiceComponent[], private readonly host: TopicServiceHost) {
    const user = brokerUser(components);
    if (!user) return;
    const broker = host.broker;
    if (!broker) {
      throw new TypeError(`${user.kind} "${user.name}" needs a message broker: set NATS_URL (e.g. nats://127.0.0.1:4222) or pass \`broker\``);
    }
    const topics = components.filter((c): c is TopicConsumerDefinition | TopicProducerDefinition => c.kind === "topic-consumer" || c.kind === "topic-producer");
    for (const topic of topics) {
      if (topic.kind === "topic-consumer") this.consumers.set(topic.name, new TopicConsumerRunner(topic, { ...host, broker }));
      else this.producers.set(topic.name, new TopicProducerRunner(topic, { ...host, broker }));
    }
  }

  /** Whether the service has topic components. */
  get any(): boolean {
    return this.consumers.size + this.producers.size > 0;
  }

  registerLeases(membership: Membership): void {
    for (const [name, runner] of [...this.consumers, ...this.producers]) {
      membership.register(`consumer/${name}`, { acquired: (fence) => runner.begin(fence), lost: () => runner.stop() });
    }
  }

  /** New feed entries: producers read now. */
  wake(): void {
    for (const runner of this.producers.values()) runner.wake();
  }

  async stop(): Promise<void> {
    // A broker never reached holds each runner at its first call: refused, they end (one reached finishes its work first).
    this.host.broker?.stopConnecting?.();
    await Promise.all([...this.consumers.values(), ...this.producers.values()].map((r) => r.stop()));
    await this.host.broker?.close();
  }

  /** Rows for `sagaflow consumers`: topic consumers' lag comes from the broker, producers' from the feed. */
  async reports(head: number): Promise<ConsumerReport[]> {
    const { store } = this.host;
    const consumers = await Promise.all([...this.consumers.values()].map(async (runner): Promise<ConsumerReport> => {
      const lag = await runner.lag();
      const parked = await store.listParked(runner.definition.name, 10_000);
      // The broker away: its last figures, said to be old (not zeros, which would read as caught up).
      const stale = !runner.delivering ? undefined : lag === undefined ? "the broker has not answered yet" : lag.asOf !== undefined ? `the broker does not answer: figures as of ${new Date(lag.asOf).toISOString()}` : undefined;
      const lastError = runner.lastError ?? stale;
      return {
        name: runner.definition.name,
        source: `stream ${runner.streamName}`,
        offset: lag?.ackFloor ?? 0,
        head: lag?.head ?? 0,
        lag: lag ? lag.pending + lag.inFlight : 0,
        lagIsAtLeast: false,
        parked: parked.length,
        ...(lastError ? { lastError } : {}),
      };
    }));
    const producers = await Promise.all([...this.producers.values()].map(async (runner): Promise<ConsumerReport> => {
      const pending = await store.readFeed(runner.position, 10_000, [runner.definition.options.source.name]);
      return {
        name: runner.definition.name,
        source: `${runner.definition.options.source.name} → stream ${runner.definition.options.stream.name}`,
        offset: runner.position,
        head,
        lag: pending.length,
        lagIsAtLeast: pending.length === 10_000,
        parked: 0,
        ...(runner.lastPublishLagMs === undefined ? {} : { publishLagMs: runner.lastPublishLagMs }),
        ...(runner.lastError ? { lastError: runner.lastError } : {}),
      };
    }));
    return [...consumers, ...producers];
  }
}
