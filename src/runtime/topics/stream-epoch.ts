import type { Broker } from "../../broker/port.ts";
import type { Fence } from "../../store/cluster-port.ts";
import type { Store } from "../../store/port.ts";

/*
 * Which making of its stream a topic consumer reads, in the consumer-offset table (numbers, raised only):
 *   `topic-stream:{name}`  when the stream it reads was made (ms since the epoch);
 *   `topic-epoch:{name}`   how many times the stream was made again since the consumer first read it.
 */
const streamKey = (name: string) => `topic-stream:${name}`;
const epochKey = (name: string) => `topic-epoch:${name}`;

/**
 * The stream's epoch for a topic consumer about to subscribe: 0 for the stream it first read, one
 * more each time the stream was deleted and made again — made later than the one it knew, and
 * without its durable consumer, which goes with the stream. A creation time that changes while the
 * consumer is still there (NATS has been seen to reset it on a restart) is the same stream. Asked
 * before subscribing, which makes the durable consumer: a crash after it is counted once.
 */
export async function streamEpoch(broker: Broker, store: Store, name: string, stream: string, durable: string, fence: Fence | undefined): Promise<number> {
  const making = await broker.streamMaking(stream, durable);
  const known = await store.loadOffset(streamKey(name));
  const epoch = await store.loadOffset(epochKey(name));
  if (!Number.isFinite(making.created) || making.created <= known) return epoch;
  if (known !== 0 && !making.consumerExists) {
    await store.commitConsumer(epochKey(name), epoch + 1, [], [], fence);
    await store.commitConsumer(streamKey(name), making.created, [], [], fence);
    return epoch + 1;
  }
  await store.commitConsumer(streamKey(name), making.created, [], [], fence);
  return epoch;
}
