/**
 * Topic throughput and publish lag, in process (createSagaflow on SQLite, default durability:
 * fsync on every commit, in a temporary folder) against a NATS server with JetStream.
 *
 * consume: BENCH_MESSAGES deposits (`{"wallet","amount","ref"}`, over BENCH_WALLETS wallets) are
 *   published to a stream first; then a topic consumer (keyed by wallet, idempotency key = ref)
 *   turns each into one `deposit` command. Figure: messages handled per second from start to the
 *   last commit, and whether every balance is exact.
 * publish: a topic producer publishes every state change of a key-value entity while an open
 *   loop sends BENCH_RATE commands per second for BENCH_SECONDS. A core-NATS subscriber notes when
 *   each message arrives; lag = arrival − commit time (the `ce-time` header, the feed entry's
 *   time). Figures: p50/p95/p99/max lag and messages per second published.
 *
 * Streams are named BENCH_*_<time> and deleted afterwards. stdout: one JSON line per figure.
 *
 * Environment:
 *   NATS_URL=nats://127.0.0.1:4222
 *   BENCH_MESSAGES=20000  BENCH_WALLETS=1000  BENCH_RATE=2000  BENCH_SECONDS=10
 *
 * Run: npm run bench:topics
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { createSagaflow, entity, keyValue, service, sqlite, topicConsumer, topicProducer } from "../src/index.ts";
import { connectNats } from "../src/broker/nats-broker.ts";

const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const messages = Number(process.env.BENCH_MESSAGES ?? 20_000);
const walletCount = Number(process.env.BENCH_WALLETS ?? 1_000);
const rate = Number(process.env.BENCH_RATE ?? 2_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const suffix = String(Date.now());
const encoder = new TextEncoder();
const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const wallet = entity(
  "wallet",
  { initial: () => ({ balance: 0 }), events: { deposited: (s, e: { amount: number }) => ({ balance: s.balance + e.amount }) } },
  {
    commands: { deposit: (_s, c: { amount: number }, fx) => fx.emit("deposited", c).reply((s) => s.balance) },
    queries: { balance: (s, _: {}, fx) => fx.reply(s.balance) },
  },
);

async function consume(): Promise<void> {
  const stream = `BENCH_DEPOSITS_${suffix}`;
  const subject = `bench.deposits.${suffix}`;
  const broker = await connectNats(natsUrl, () => {});
  await broker.ensureStream({ name: stream, subjects: [subject] });
  const expected = new Map<string, number>();
  say(`publishing ${messages} deposits…`);
  for (let i = 0; i < messages; i += 1_000) {
    await Promise.all(Array.from({ length: Math.min(1_000, messages - i) }, (_, j) => {
      const n = i + j;
      const w = `w${n % walletCount}`;
      const amount = 1 + (n % 7);
      expected.set(w, (expected.get(w) ?? 0) + amount);
      return broker.publish(subject, encoder.encode(JSON.stringify({ wallet: w, amount, ref: `r${n}` })), { msgId: `m${n}` });
    }));
  }
  let handled = 0;
  let lastAt = 0;
  const deposits = topicConsumer<{ wallet: string; amount: number; ref: string }>("deposits", {
    stream: { name: stream, subjects: [subject] },
    key: (d) => d.wallet,
    idempotencyKey: (d) => d.ref,
    maxInFlight: 512,
    handle: async (d, ctx) => {
      await ctx.call(wallet, d.wallet).deposit({ amount: d.amount });
      handled++;
      lastAt = performance.now();
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-bench-topics-"));
  const app = createSagaflow(service("bench", [wallet, deposits]), { store: sqlite(join(dir, "bench.db")), broker, log: say });
  const started = performance.now();
  await app.start();
  while (handled < messages) await sleep(20);
  const perSecond = Math.round(messages / ((lastAt - started) / 1000));
  let exact = true;
  for (const [w, balance] of expected) if ((await app.client.call(wallet, w).balance({})) !== balance) exact = false;
  console.log(JSON.stringify({ figure: "topic consume", messages, wallets: walletCount, perSecond, exact }));
  await app.stop(); // closes the broker it was given
  const connection = await connect({ servers: natsUrl });
  await (await connection.jetstreamManager()).streams.delete(stream);
  await connection.close();
  rmSync(dir, { recursive: true, force: true });
}

const counter = keyValue("counter", {
  initial: () => 0,
  commands: { add: (s, _: {}, fx) => fx.update(s + 1).reply((s) => s) },
  queries: {},
});

async function publish(): Promise<void> {
  const stream = `BENCH_COUNTERS_${suffix}`;
  const prefix = `bench.counters.${suffix}`;
  const producer = topicProducer("counter-changes", {
    source: counter,
    stream: { name: stream, subjects: [`${prefix}.>`] },
    subject: (c) => `${prefix}.${c.id}`,
    message: (c) => ({ id: c.id, n: c.payload }),
  });
  const watcher = await connect({ servers: natsUrl });
  const lags: number[] = [];
  const subscription = watcher.subscribe(`${prefix}.>`, {
    callback: (_error, m) => {
      const time = m.headers?.get("ce-time");
      if (time) lags.push(Date.now() - Date.parse(time));
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-bench-topics-"));
  const broker = await connectNats(natsUrl, () => {});
  const app = createSagaflow(service("bench", [counter, producer]), { store: sqlite(join(dir, "bench.db")), broker, log: say });
  await app.start();
  say(`publish: ${rate} commands/s for ${seconds} s…`);
  const total = rate * seconds;
  const start = performance.now();
  const inFlight: Array<Promise<unknown>> = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    inFlight.push(app.client.call(counter, `c${i % 500}`).add({}));
  }
  await Promise.all(inFlight);
  const deadline = Date.now() + 30_000;
  while (lags.length < total && Date.now() < deadline) await sleep(20);
  const elapsed = (performance.now() - start) / 1000;
  lags.sort((a, b) => a - b);
  const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))];
  console.log(JSON.stringify({ figure: "topic publish lag", rate, seconds, published: lags.length, perSecond: Math.round(lags.length / elapsed), p50Ms: at(0.5), p95Ms: at(0.95), p99Ms: at(0.99), maxMs: lags.at(-1) }));
  subscription.unsubscribe();
  await app.stop();
  await (await watcher.jetstreamManager()).streams.delete(stream);
  await watcher.close();
  rmSync(dir, { recursive: true, force: true });
}

await consume();
await publish();
