/**
 * Consumer throughput and end-to-end lag, in process (Runtime + SqliteStore + Client), on SQLite
 * with default durability (WAL, synchronous=FULL: fsync on every commit) in a temporary folder.
 *
 * The service: a `source` entity (BENCH_INSTANCES instances) whose `record` command emits one
 * `recorded` event, and a consumer of those events that handles each one with one keyed call to a
 * `counter` entity of the same id (`ctx.call(counter, ctx.id).count(...)`).
 *
 * steady: an open-loop load of R `record` commands per second (each to a random source instance)
 *   for BENCH_SECONDS while the consumer runs. Every command carries a token; the load generator
 *   notes when its reply (commit + ack) came back, the consumer's handler notes when its counter
 *   call came back (committed). lag = handled − acked, per event. The backlog is sampled every
 *   BENCH_SAMPLE_MS: feed head − consumer offset (positions; the counter's own events are in the
 *   feed too), and the `source` entries after the offset (events, read on a second connection).
 * drain: BENCH_DRAIN_EVENTS events are written first (no consumer registered), then the runtime is
 *   restarted with the consumer and the time until it has handled all of them is measured.
 *
 * Afterwards, every counter must equal its source instance's event count and the number of
 * commands acknowledged for it (exactly once), and nothing may be parked.
 * The store's methods are wrapped to count and time what the consumer does: SQLite transactions
 * (group commits), offset commits, feed reads, idempotency look-ups. Since better-sqlite3 is
 * synchronous, their time is time the event loop is blocked (fsync included).
 *
 * stdout: one JSON line per figure, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_SECONDS=10           load seconds per steady rate
 *   BENCH_RATES=1000,5000,10000 target source commands per second (steady mode), one point each
 *   BENCH_INSTANCES=1000       source (and counter) instances
 *   BENCH_DRAIN_EVENTS=50000
 *   BENCH_MODES=steady,drain
 *   BENCH_SAMPLE_MS=50         backlog sampling interval
 *   BENCH_SYNC=FULL            SQLite synchronous mode (FULL is the default; NORMAL/OFF show what fsyncs cost)
 *   BENCH_FSYNC=1              count fsync/fdatasync calls with `perf stat` where available (0: don't)
 *   BENCH_DIR=<dir>            where the temporary data folders go (default: the OS temp dir)
 *
 * Run: npm run bench:consumers
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { Client } from "../src/client/client.ts";
import { consumer } from "../src/define/consumer.ts";
import { entity } from "../src/define/entity.ts";
import type { ConsumerRunner } from "../src/runtime/consumers/consumer-runner.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { DedupRecord, FeedEntry, InstanceWrite } from "../src/store/port.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import {
  choicesEnv,
  fsyncsCounted,
  fsyncWindow,
  numberEnv,
  openLoop,
  positiveNumbersEnv,
  quantiles,
  round,
  syncModeEnv,
  until,
  usageWindow,
} from "./support/load.ts";
import { newStat, timed, type Stat } from "./support/probes.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("consumers");
const { log, emit } = program;

const seconds = numberEnv("BENCH_SECONDS", 10);
const rates = positiveNumbersEnv("BENCH_RATES", "1000,5000,10000");
const instances = Math.max(1, Math.floor(numberEnv("BENCH_INSTANCES", 1000)));
const drainEvents = Math.max(1, Math.floor(numberEnv("BENCH_DRAIN_EVENTS", 50_000)));
const modes = choicesEnv("BENCH_MODES", "steady,drain", ["steady", "drain"]);
const sampleMs = Math.max(1, numberEnv("BENCH_SAMPLE_MS", 50));
const synchronous = syncModeEnv();
const ids = Array.from({ length: instances }, (_, i) => `i${i}`);
const consumerName = "bench-consumer";

// ---------------------------------------------------------------- the service

interface Recorded {
  token: number;
  sentAt: number;
}

const source = entity(
  "source",
  {
    initial: () => ({ n: 0 }),
    events: { recorded: (s, _e: Recorded) => ({ n: s.n + 1 }) },
  },
  {
    commands: {
      record: (_s, c: Recorded, fx) => fx.emit("recorded", { token: c.token, sentAt: c.sentAt }).reply((s) => ({ n: s.n })),
    },
    queries: { count: (s, _: {}, fx) => fx.reply({ n: s.n }) },
  },
);

const counter = entity(
  "counter",
  {
    initial: () => ({ n: 0 }),
    events: { counted: (s, _e: { token: number }) => ({ n: s.n + 1 }) },
  },
  {
    commands: { count: (_s, c: { token: number }, fx) => fx.emit("counted", { token: c.token }).reply((s) => ({ n: s.n })) },
    queries: { get: (s, _: {}, fx) => fx.reply({ n: s.n }) },
  },
);

/** What the handler and the load generator note, by token. Times are performance.now() ms. */
class Recorder {
  readonly ackAt: Float64Array;
  readonly sentAt: Float64Array;
  readonly handledAt: Float64Array;
  readonly deliveries: Uint16Array;
  /** Acknowledged commands per source instance (index into `ids`). */
  readonly ackedPerInstance = new Uint32Array(instances);
  acked = 0;
  handled = 0;
  redelivered = 0;
  errors = 0;
  firstError: unknown;

  constructor(readonly capacity: number) {
    this.ackAt = new Float64Array(capacity);
    this.sentAt = new Float64Array(capacity);
    this.handledAt = new Float64Array(capacity);
    this.deliveries = new Uint16Array(capacity);
  }

  handle(token: number): void {
    if (this.deliveries[token]! > 0) this.redelivered++;
    else {
      this.handled++;
      this.handledAt[token] = performance.now();
    }
    this.deliveries[token]!++;
  }
}

function consumerOf(recorder: Recorder) {
  return consumer(consumerName, {
    source,
    events: {
      recorded: async (e, ctx) => {
        await ctx.call(counter, ctx.id).count({ token: e.token });
        recorder.handle(e.token);
      },
    },
  });
}

// ---------------------------------------------------------------- instrumentation

interface Probes {
  commit: Stat;
  commitConsumer: Stat;
  readFeed: Stat;
  findDedup: Stat;
}

/**
 * Wraps store methods to count calls and time them. SqliteStore's methods do all their work
 * synchronously before returning a settled promise, so the time around the call is the time the
 * event loop is blocked by it, fsync included.
 */
function instrument(store: SqliteStore): Probes {
  const probes: Probes = { commit: newStat(), commitConsumer: newStat(), readFeed: newStat(), findDedup: newStat() };
  store.commit = timed(probes.commit, store.commit.bind(store), ([writes]: [InstanceWrite[]]) => {
    probes.commit.items += writes.length;
  });
  store.commitConsumer = timed(probes.commitConsumer, store.commitConsumer.bind(store));
  store.readFeed = timed(probes.readFeed, store.readFeed.bind(store), (_args, entries: FeedEntry[]) => {
    probes.readFeed.items += entries.length;
  });
  store.findDedup = timed(probes.findDedup, store.findDedup.bind(store), (_args, found: DedupRecord | undefined) => {
    probes.findDedup.items += found === undefined ? 0 : 1;
  });
  return probes;
}

function snapshot(probes: Probes): Probes {
  return structuredClone(probes);
}

/** What the store's methods did between two snapshots, per second of `ms`. */
function breakdown(before: Probes, after: Probes, elapsedMs: number, handled: number): Record<string, unknown> {
  const d = (k: keyof Probes) => ({
    calls: after[k].calls - before[k].calls,
    items: after[k].items - before[k].items,
    ms: after[k].ms - before[k].ms,
  });
  const commit = d("commit");
  const offsets = d("commitConsumer");
  const feed = d("readFeed");
  const dedup = d("findDedup");
  const pct = (ms: number) => round((100 * ms) / elapsedMs, 1);
  return {
    // SQLite transactions of instance writes (group commits): source commands and counter calls.
    commits: commit.calls,
    writesPerCommit: commit.calls > 0 ? round(commit.items / commit.calls, 1) : null,
    commitMsAvg: commit.calls > 0 ? round(commit.ms / commit.calls, 3) : null,
    commitBusyPct: pct(commit.ms),
    // The consumer's offset transactions (one per batch, outside the group committer).
    offsetCommits: offsets.calls,
    offsetCommitMsAvg: offsets.calls > 0 ? round(offsets.ms / offsets.calls, 3) : null,
    offsetCommitBusyPct: pct(offsets.ms),
    feedReads: feed.calls,
    entriesPerFeedRead: feed.calls > 0 ? round(feed.items / feed.calls, 1) : null,
    feedReadBusyPct: pct(feed.ms),
    dedupLookups: dedup.calls,
    dedupLookupsPerEvent: handled > 0 ? round(dedup.calls / handled, 2) : null,
    dedupBusyPct: pct(dedup.ms),
  };
}

// ---------------------------------------------------------------- one runtime

interface Harness {
  dir: string;
  path: string;
  store: SqliteStore;
  runtime: Runtime;
  client: Client;
  probes: Probes;
  runner: ConsumerRunner | undefined;
}

async function open(dir: string, recorder: Recorder | undefined): Promise<Harness> {
  const path = join(dir, "sagaflow.db");
  const store = new SqliteStore({ path, synchronous });
  const probes = instrument(store);
  const components = recorder ? [source, counter, consumerOf(recorder)] : [source, counter];
  const runtime = new Runtime({ store, components });
  await runtime.start();
  return { dir, path, store, runtime, client: new Client(runtime.dispatcher), probes, runner: runtime.consumers.get(consumerName) };
}

/** Samples the backlog until stopped: feed head − offset (positions) and source entries after the offset. */
function backlogSampler(h: Harness) {
  const reader = new Database(h.path, { readonly: true });
  const countAfter = reader
    .prepare("SELECT count(*) FROM events INDEXED BY events_feed WHERE component = 'source' AND position > ?")
    .pluck();
  const head = reader.prepare("SELECT max(position) FROM events").pluck();
  let maxPositions = 0;
  let maxEvents = 0;
  let samples = 0;
  const sample = () => {
    const offset = h.runner!.position;
    maxPositions = Math.max(maxPositions, ((head.get() as number | null) ?? 0) - offset);
    maxEvents = Math.max(maxEvents, countAfter.get(offset) as number);
    samples++;
  };
  sample();
  const timer = setInterval(sample, sampleMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      reader.close();
      return { maxBacklog: maxPositions, maxBacklogEvents: maxEvents, samples };
    },
  };
}

/** Sends `record` with a token; notes the ack. */
function sender(h: Harness, recorder: Recorder) {
  let inFlight = 0;
  return {
    get inFlight() {
      return inFlight;
    },
    send(token: number): Promise<void> {
      const index = Math.floor(Math.random() * instances);
      const sentAt = performance.now();
      recorder.sentAt[token] = sentAt;
      inFlight++;
      return h.client
        .call(source, ids[index]!)
        .record({ token, sentAt })
        .then(
          () => {
            recorder.ackAt[token] = performance.now();
            recorder.acked++;
            recorder.ackedPerInstance[index]!++;
          },
          (error: unknown) => {
            recorder.errors++;
            recorder.firstError ??= error;
          },
        )
        .finally(() => inFlight--);
    },
  };
}

/** Highest position of a source event in the store (what the consumer's offset must reach). */
function lastSourcePosition(path: string): number {
  const reader = new Database(path, { readonly: true });
  try {
    return (reader.prepare("SELECT max(position) FROM events WHERE component = 'source'").pluck().get() as number | null) ?? 0;
  } finally {
    reader.close();
  }
}

/**
 * Exactly once: every counter equals its source's event count and the acks the load generator
 * got for it; each token was handled; nothing is parked.
 */
async function verify(h: Harness, recorder: Recorder, tokens: number): Promise<{ exactlyOnce: boolean; detail: string }> {
  const problems: string[] = [];
  let sourceTotal = 0;
  let counterTotal = 0;
  for (let i = 0; i < instances; i++) {
    const id = ids[i]!;
    const { n: s } = await h.client.call(source, id).count();
    const { n: c } = await h.client.call(counter, id).get();
    sourceTotal += s;
    counterTotal += c;
    if (s !== c || s !== recorder.ackedPerInstance[i]) {
      if (problems.length < 5) problems.push(`${id}: source ${s}, counter ${c}, acked ${recorder.ackedPerInstance[i]}`);
    }
  }
  let unhandled = 0;
  for (let t = 0; t < tokens; t++) if (recorder.deliveries[t] === 0 && recorder.ackAt[t]! > 0) unhandled++;
  const parked = (await h.store.listParked(consumerName, 1_000)).length;
  if (unhandled > 0) problems.push(`${unhandled} acknowledged events never handled`);
  if (parked > 0) problems.push(`${parked} parked messages`);
  if (recorder.errors > 0) problems.push(`${recorder.errors} source commands failed, first: ${String(recorder.firstError)}`);
  const detail = `source events ${sourceTotal}, counted ${counterTotal}, acked ${recorder.acked}` + (problems.length ? `; ${problems.join("; ")}` : "");
  return { exactlyOnce: problems.length === 0 && sourceTotal === counterTotal && sourceTotal === recorder.acked, detail };
}

function lagStats(recorder: Recorder, tokens: number) {
  const lag: number[] = [];
  const fromSend: number[] = [];
  for (let t = 0; t < tokens; t++) {
    const handled = recorder.handledAt[t]!;
    if (handled === 0 || recorder.ackAt[t] === 0) continue;
    lag.push(handled - recorder.ackAt[t]!);
    fromSend.push(handled - recorder.sentAt[t]!);
  }
  const a = quantiles(Float64Array.from(lag).sort(), 2);
  const b = quantiles(Float64Array.from(fromSend).sort(), 2);
  return {
    lagP50Ms: a.p50,
    lagP99Ms: a.p99,
    lagMaxMs: a.max,
    // From sending the source command (so including its own commit) to the counter call committed.
    sendToHandledP50Ms: b.p50,
    sendToHandledP99Ms: b.p99,
  };
}

// ---------------------------------------------------------------- steady

async function steady(rate: number): Promise<void> {
  const tokens = Math.round(rate * seconds);
  const recorder = new Recorder(tokens);
  const h = await open(program.newDataDir(`steady-${rate}`), recorder);
  try {
    log(`steady ${rate}/s: ${seconds}s over ${instances} instances in ${h.dir}`);
    const load = sender(h, recorder);
    const syncs = await fsyncWindow(process.pid);
    const sampler = backlogSampler(h);
    const probesBefore = snapshot(h.probes);
    const usage = usageWindow();
    const t0 = performance.now();
    const run = await openLoop(rate, seconds * 1000, (i) => load.send(i));
    const windowEnd = performance.now();
    const used = usage.stop(windowEnd - t0);
    const probesAfter = snapshot(h.probes);
    const handledInWindow = countHandledBetween(recorder, tokens, t0, windowEnd);
    // Let everything sent be acknowledged and handled, and the offset move past it.
    await until(() => load.inFlight === 0, 60_000, 2);
    const acksDone = performance.now();
    const caughtUp = await until(() => recorder.handled + recorder.errors >= tokens, 120_000, 2);
    const handledDone = performance.now();
    const last = lastSourcePosition(h.path);
    await until(() => h.runner!.position >= last, 30_000, 2);
    const backlog = sampler.stop();
    const fsyncs = await syncs.stop();
    if (!caughtUp) log(`steady ${rate}/s: the consumer did not catch up (${recorder.handled}/${tokens} handled)`);
    const { exactlyOnce, detail } = await verify(h, recorder, tokens);
    log(`steady ${rate}/s: ${detail}`);
    const elapsedMs = windowEnd - t0;
    const allMs = handledDone - t0;
    const b = breakdown(probesBefore, probesAfter, elapsedMs, handledInWindow);
    emit({
      mode: "steady",
      targetRate: rate,
      sourceRate: Math.round((recorder.acked * 1000) / elapsedMs),
      eventsPerSecond: Math.round((handledInWindow * 1000) / elapsedMs),
      ...lagStats(recorder, tokens),
      maxBacklog: backlog.maxBacklog,
      maxBacklogEvents: backlog.maxBacklogEvents,
      // After the last command was acknowledged, until the consumer had handled everything.
      tailMs: round(Math.max(0, handledDone - acksDone), 1),
      events: recorder.handled,
      redelivered: recorder.redelivered,
      errors: recorder.errors,
      exactlyOnce,
      instances,
      seconds: round(elapsedMs / 1000, 2),
      loadMaxSlipMs: round(run.maxSlipMs, 1),
      cpuPct: used.selfCpuPct,
      otherCpuPct: used.otherCpuPct,
      durability: h.store.settings().synchronous,
    });
    emit({
      mode: "steady",
      figure: "breakdown",
      targetRate: rate,
      handledInWindow,
      ...b,
      diskKbPerEvent: used.writtenBytes === null || handledInWindow === 0 ? null : round(used.writtenBytes / 1024 / handledInWindow, 2),
      fsyncs: fsyncs ?? null,
      fsyncsPerEvent: fsyncs !== undefined && recorder.handled > 0 ? round(fsyncs / recorder.handled, 2) : null,
      secondsToAllHandled: round(allMs / 1000, 2),
    });
  } finally {
    await h.runtime.stop();
  }
}

function countHandledBetween(recorder: Recorder, tokens: number, from: number, to: number): number {
  let n = 0;
  for (let t = 0; t < tokens; t++) {
    const at = recorder.handledAt[t]!;
    if (at >= from && at <= to) n++;
  }
  return n;
}

// ---------------------------------------------------------------- drain

async function drain(): Promise<void> {
  const recorder = new Recorder(drainEvents);
  const dir = program.newDataDir("drain");
  // Fill without the consumer: it is not registered, so nothing reads the feed yet.
  const fill = await open(dir, undefined);
  let fillMs: number;
  try {
    log(`drain: writing ${drainEvents} source events in ${dir}`);
    const load = sender(fill, recorder);
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < drainEvents) await load.send(next++);
    };
    await Promise.all(Array.from({ length: 512 }, worker));
    fillMs = performance.now() - t0;
  } finally {
    await fill.runtime.stop();
  }
  if (recorder.errors > 0) throw new Error(`drain: ${recorder.errors} writes failed, first: ${String(recorder.firstError)}`);
  const last = lastSourcePosition(join(dir, "sagaflow.db"));

  const syncs = await fsyncWindow(process.pid);
  const usage = usageWindow();
  const t0 = performance.now();
  const h = await open(dir, recorder); // start() begins the consumer at offset 0
  try {
    const probesBefore = snapshot(h.probes);
    const sampler = backlogSampler(h);
    const caughtUp = await until(() => recorder.handled >= drainEvents, 300_000, 1);
    const handledDone = performance.now();
    await until(() => h.runner!.position >= last, 30_000, 1);
    const offsetDone = performance.now();
    const used = usage.stop(offsetDone - t0);
    const probesAfter = snapshot(h.probes);
    const backlog = sampler.stop();
    const fsyncs = await syncs.stop();
    if (!caughtUp) log(`drain: the consumer did not catch up (${recorder.handled}/${drainEvents} handled)`);
    const { exactlyOnce, detail } = await verify(h, recorder, drainEvents);
    log(`drain: ${detail}`);
    const elapsedMs = handledDone - t0;
    emit({
      mode: "drain",
      events: drainEvents,
      eventsPerSecond: Math.round((recorder.handled * 1000) / elapsedMs),
      drainSeconds: round(elapsedMs / 1000, 2),
      // Until the stored offset passed the last event too.
      offsetCaughtUpSeconds: round((offsetDone - t0) / 1000, 2),
      maxBacklog: backlog.maxBacklog,
      maxBacklogEvents: backlog.maxBacklogEvents,
      redelivered: recorder.redelivered,
      exactlyOnce,
      instances,
      fillEventsPerSecond: Math.round((drainEvents * 1000) / fillMs),
      cpuPct: used.selfCpuPct,
      otherCpuPct: used.otherCpuPct,
      durability: h.store.settings().synchronous,
    });
    emit({
      mode: "drain",
      figure: "breakdown",
      ...breakdown(probesBefore, probesAfter, offsetDone - t0, recorder.handled),
      diskKbPerEvent: used.writtenBytes === null ? null : round(used.writtenBytes / 1024 / drainEvents, 2),
      fsyncs: fsyncs ?? null,
      fsyncsPerEvent: fsyncs !== undefined ? round(fsyncs / drainEvents, 3) : null,
    });
  } finally {
    await h.runtime.stop();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  log(
    `node ${process.version}; ${modes.join(", ")}; rates ${rates.join("/")}/s for ${seconds}s; ${instances} instances; ` +
      `drain ${drainEvents}; synchronous=${synchronous}${fsyncsCounted() ? "; counting fsyncs with perf" : ""}`,
  );
  for (const mode of modes) {
    if (mode === "steady") for (const rate of rates) await steady(rate);
    else await drain();
    program.removeDataDirs();
  }
}

await program.run(main);
