/**
 * Consumer lag of the other instances while one instance's messages keep failing (issue 17 item 5).
 *
 * A `source` entity; a consumer of its events whose handler throws for instance "bad" and records,
 * for every other instance, how long after the command's reply the event was handled. Commands go
 * at BENCH_RATE per second (one in BENCH_BAD_EVERY to "bad", the rest to BENCH_INSTANCES others)
 * for BENCH_SECONDS, on SQLite with default durability and the consumer's default retry (5 attempts,
 * back-off from 100 ms: ≈1.5 s until a message parks).
 *
 * stdout: one JSON line: lag percentiles (ms) of the other instances' events, and how many parked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { consumer } from "../src/define/consumer.ts";
import { entity } from "../src/define/entity.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rate = Number(process.env.BENCH_RATE ?? 200);
const instances = Number(process.env.BENCH_INSTANCES ?? 50);
const badEvery = Number(process.env.BENCH_BAD_EVERY ?? 20);

const source = entity(
  "source",
  { initial: () => ({}), events: { recorded: (s: object, _e: { sentAt: number }) => s } },
  { commands: { record: (_s, c: { sentAt: number }, fx) => fx.emit("recorded", c).reply(() => Date.now()) } },
);

const acked = new Map<number, number>();
const lags: number[] = [];
const watcher = consumer("watcher", {
  source,
  events: {
    recorded: (e, ctx) => {
      if (ctx.id === "bad") throw new Error("always fails");
      lags.push(Date.now() - e.sentAt);
    },
  },
});

const dir = mkdtempSync(join(tmpdir(), "sagaflow-bench-backoff-"));
const store = new SqliteStore({ path: join(dir, "sagaflow.db") });
const runtime = new Runtime({ store, components: [source, watcher], log: () => {} });
await runtime.start();
const started = Date.now();
let sent = 0;
const calls: Array<Promise<unknown>> = [];
while (Date.now() - started < seconds * 1000) {
  const due = Math.floor(((Date.now() - started) / 1000) * rate);
  while (sent < due) {
    const id = sent % badEvery === 0 ? "bad" : `i${sent % instances}`;
    calls.push(runtime.call("source", id, "record", { sentAt: Date.now() }).then((at) => acked.set(sent, at as number)));
    sent++;
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await Promise.all(calls);
const others = sent - Math.ceil(sent / badEvery);
while (lags.length < others) await new Promise((resolve) => setTimeout(resolve, 20));
const parked = (await store.listParked("watcher", 100_000)).length;
await runtime.stop();
rmSync(dir, { recursive: true, force: true });
lags.sort((a, b) => a - b);
const pct = (p: number) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))];
console.log(JSON.stringify({ bench: "consumer-backoff-lag", seconds, rate, instances, badEvery, otherEvents: lags.length, lagMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: lags.at(-1) }, parked }));
