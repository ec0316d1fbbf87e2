/**
 * Durable timer accuracy, in process (Runtime + SqliteStore), on SQLite with default durability
 * (WAL, synchronous=FULL: fsync on every commit) in a temporary folder.
 *
 * BENCH_TIMERS timers are started through `runtime.timers.start`, each with a deferred call
 * `alarm(id).ring({ timer })` to one of BENCH_TIMER_TARGETS `alarm` entity instances, in random
 * order; then the bench waits until each has fired.
 *   spread: due times evenly spread over [T0 + lead, T0 + lead + spread] (T0: when starting begins)
 *   burst:  all due at T0 + lead
 * The due time of each timer is the one the runtime stored (the store's putTimer is wrapped to
 * read it). A firing's time is the `at` of the `rang` event its call committed (the store's
 * commit timestamp, taken just before the transaction is written): lateness = at − dueAt. Also
 * reported: when the timer service picked it up (dueTimers returned it) and when its commit was
 * durable (fsync returned). Early firings (at < dueAt) must be 0 and each timer must have rung
 * exactly once (one `rang` event per timer in the store), with no timer left behind.
 *
 * stdout: one JSON line per figure, nothing else; progress goes to stderr.
 *
 * Environment:
 *   BENCH_TIMERS=10000
 *   BENCH_TIMER_TARGETS=1000     alarm instances the timers call
 *   BENCH_TIMER_LEAD_MS=5000     from T0 to the first due time
 *   BENCH_TIMER_SPREAD_MS=5000   from the first due time to the last (spread mode)
 *   BENCH_TIMER_MODES=spread,burst
 *   BENCH_SYNC=FULL              SQLite synchronous mode (FULL is the default; NORMAL/OFF show what fsyncs cost)
 *   BENCH_FSYNC=1                count fsync/fdatasync calls with `perf stat` where available (0: don't)
 *   BENCH_DIR=<dir>              where the temporary data folders go (default: the OS temp dir)
 *
 * Run: npm run bench:timers
 */
import { join } from "node:path";
import { deferred } from "../src/define/deferred.ts";
import { entity } from "../src/define/entity.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { InstanceWrite, NewTimer, TimerRecord, WriteOutcome } from "../src/store/port.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { choicesEnv, fsyncsCounted, fsyncWindow, numberEnv, quantiles, round, sleep, syncModeEnv, until, usageWindow } from "./support/load.ts";
import { newStat, timed } from "./support/probes.ts";
import { benchProgram } from "./support/program.ts";

const program = benchProgram("timers");
const { log, emit } = program;
const timerCount = Math.max(1, Math.floor(numberEnv("BENCH_TIMERS", 10_000)));
const targets = Math.max(1, Math.floor(numberEnv("BENCH_TIMER_TARGETS", 1000)));
const leadMs = numberEnv("BENCH_TIMER_LEAD_MS", 5000);
const spreadMs = numberEnv("BENCH_TIMER_SPREAD_MS", 5000);
const modes = choicesEnv("BENCH_TIMER_MODES", "spread,burst", ["spread", "burst"]);
const synchronous = syncModeEnv();
const targetIds = Array.from({ length: targets }, (_, i) => `a${i}`);

type Mode = (typeof modes)[number];

const alarm = entity(
  "alarm",
  {
    initial: () => ({ rang: 0 }),
    events: { rang: (s, _e: { timer: number }) => ({ rang: s.rang + 1 }) },
  },
  {
    commands: { ring: (_s, c: { timer: number }, fx) => fx.emit("rang", { timer: c.timer }).reply((s) => ({ rang: s.rang })) },
    queries: { get: (s, _: {}, fx) => fx.reply(s) },
  },
);

const timerName = (i: number) => `t${i}`;
const timerIndex = (name: string) => Number(name.slice(1));

/** What the wrapped store saw, by timer index; times are Date.now() ms, like the store's. */
class Watch {
  readonly dueAt = new Float64Array(timerCount);
  readonly pickedAt = new Float64Array(timerCount);
  readonly pickups = new Uint16Array(timerCount);
  readonly durableAt = new Float64Array(timerCount);
  fired = 0;
  readonly putTimer = newStat();
  readonly dueTimers = newStat();
  readonly finishTimer = newStat();
  readonly retryTimer = newStat();
  readonly commit = newStat();
  readonly nextTimerDue = newStat();

  reset(): void {
    for (const s of [this.putTimer, this.dueTimers, this.finishTimer, this.retryTimer, this.commit, this.nextTimerDue]) {
      s.calls = s.items = s.ms = 0;
    }
  }
}

/** Wraps the store's timer methods and commit (see ./support/probes.ts). */
function instrument(store: SqliteStore, watch: Watch): void {
  store.putTimer = timed(watch.putTimer, store.putTimer.bind(store), ([timer]: [NewTimer], record: TimerRecord) => {
    watch.dueAt[timerIndex(timer.name)] = record.dueAt;
  });
  store.dueTimers = timed(watch.dueTimers, store.dueTimers.bind(store), (_args, due: TimerRecord[]) => {
    const now = Date.now();
    watch.dueTimers.items += due.length;
    for (const t of due) {
      const i = timerIndex(t.name);
      if (watch.pickups[i] === 0) watch.pickedAt[i] = now;
      watch.pickups[i]!++;
    }
  });
  store.finishTimers = timed(watch.finishTimer, store.finishTimers.bind(store));
  store.retryTimer = timed(watch.retryTimer, store.retryTimer.bind(store));
  store.nextTimerDue = timed(watch.nextTimerDue, store.nextTimerDue.bind(store));
  store.commit = timed(watch.commit, store.commit.bind(store), (args: [InstanceWrite[]], outcomes: WriteOutcome[]) => {
    const now = Date.now();
    const writes = args[0];
    watch.commit.items += writes.length;
    writes.forEach((w, k) => {
      if (w.component !== "alarm" || !outcomes[k]?.ok) return;
      for (const e of w.events?.append ?? []) {
        const i = (e.payload as { timer: number }).timer;
        if (watch.durableAt[i] === 0) {
          watch.durableAt[i] = now;
          watch.fired++;
        }
      }
    });
  });
}

function shuffled(n: number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function stats(values: number[]) {
  return quantiles(Float64Array.from(values).sort(), 1);
}

async function run(mode: Mode): Promise<void> {
  const dir = program.newDataDir(mode);
  const store = new SqliteStore({ path: join(dir, "sagaflow.db"), synchronous });
  const watch = new Watch();
  instrument(store, watch);
  const runtime = new Runtime({ store, components: [alarm] });
  await runtime.start();
  try {
    log(`${mode}: starting ${timerCount} timers to ${targets} instances in ${dir}`);
    // ---- start the timers, in random order
    let syncs = await fsyncWindow(process.pid);
    const t0 = Date.now();
    const slotMs = mode === "spread" && timerCount > 1 ? spreadMs / (timerCount - 1) : 0;
    let clamped = 0;
    const createStarted = performance.now();
    let k = 0;
    for (const i of shuffled(timerCount)) {
      const intended = t0 + leadMs + Math.round(i * slotMs);
      const delay = intended - Date.now();
      if (delay < 0) clamped++;
      await runtime.timers.start(timerName(i), Math.max(0, delay), deferred(alarm, targetIds[i % targets]!).ring({ timer: i }));
      // start() settles without leaving the microtask queue (the store is synchronous): give the
      // event loop a turn now and then, as separate requests would, or due timers could not fire.
      if (++k % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    const createMs = performance.now() - createStarted;
    const createFsyncs = await syncs.stop();
    if (clamped > 0) log(`${mode}: starting took ${round(createMs)} ms, longer than the lead: ${clamped} timers were started already due (see BENCH_TIMER_LEAD_MS)`);
    emit({
      mode,
      figure: "start",
      timers: timerCount,
      startSeconds: round(createMs / 1000, 2),
      startsPerSecond: Math.round((timerCount * 1000) / createMs),
      putTimerMsAvg: round(watch.putTimer.ms / watch.putTimer.calls, 3),
      fsyncsPerStart: createFsyncs === undefined ? null : round(createFsyncs / timerCount, 2),
      startedAlreadyDue: clamped,
    });

    // ---- let them fire
    const firstDue = watch.dueAt.reduce((a, b) => Math.min(a, b), Infinity);
    const lastDue = watch.dueAt.reduce((a, b) => Math.max(a, b), 0);
    log(`${mode}: due from +${round(firstDue - t0)} to +${round(lastDue - t0)} ms; waiting`);
    await sleep(Math.max(0, firstDue - Date.now() - 400));
    syncs = await fsyncWindow(process.pid);
    watch.reset();
    const usage = usageWindow();
    const fireStarted = Date.now();
    const allFired = await until(() => watch.fired >= timerCount, lastDue - Date.now() + 120_000, 5);
    const lastFired = Date.now();
    const elapsedMs = Math.max(1, lastFired - fireStarted);
    const used = usage.stop(elapsedMs);
    // Fired means committed; the timer row is deleted (finishTimer) just after.
    const drained = await until(async () => (await store.listTimers(undefined, 1)).length === 0, 30_000, 10);
    const fireFsyncs = await syncs.stop();
    if (!allFired) log(`${mode}: only ${watch.fired}/${timerCount} timers fired`);

    // ---- check what the store holds: one `rang` event per timer, none before its due time
    const count = new Uint16Array(timerCount);
    const lateness: number[] = [];
    let early = 0;
    let earlyPickups = 0;
    for (const id of targetIds) {
      for (const e of await store.readEvents("alarm", id, 0, 1_000_000)) {
        const i = (e.payload as { timer: number }).timer;
        count[i]!++;
        if (count[i]! > 1) continue;
        const late = e.at - watch.dueAt[i]!;
        if (late < 0) early++;
        lateness.push(late);
      }
    }
    let missing = 0;
    let duplicates = 0;
    let repicked = 0;
    const pickup: number[] = [];
    const durable: number[] = [];
    for (let i = 0; i < timerCount; i++) {
      if (count[i] === 0) missing++;
      if (count[i]! > 1) duplicates++;
      if (watch.pickups[i]! > 1) repicked++;
      if (watch.pickedAt[i]! > 0) {
        if (watch.pickedAt[i]! < watch.dueAt[i]!) earlyPickups++;
        pickup.push(watch.pickedAt[i]! - watch.dueAt[i]!);
      }
      if (watch.durableAt[i]! > 0) durable.push(watch.durableAt[i]! - watch.dueAt[i]!);
    }
    const left = (await store.listTimers(undefined, 1_000_000)).length;
    const late = stats(lateness);
    const picked = stats(pickup);
    const committed = stats(durable);
    emit({
      mode,
      timers: timerCount,
      dueSpreadMs: round(lastDue - firstDue, 0),
      latenessP50Ms: late.p50,
      latenessP99Ms: late.p99,
      latenessMaxMs: late.max,
      firedEarly: early,
      firedExactlyOnce: missing === 0 && duplicates === 0 && left === 0 && drained,
      missing,
      duplicates,
      timersLeft: left,
      // From the first due time to the last firing committed.
      firingsPerSecond: Math.round((timerCount * 1000) / Math.max(1, lastFired - firstDue)),
      durability: store.settings().synchronous,
    });
    const pct = (ms: number) => round((100 * ms) / elapsedMs, 1);
    emit({
      mode,
      figure: "breakdown",
      // Due → picked up by the timer service (dueTimers returned it).
      pickupLatenessP50Ms: picked.p50,
      pickupLatenessP99Ms: picked.p99,
      pickupLatenessMaxMs: picked.max,
      pickedUpEarly: earlyPickups,
      pickedUpMoreThanOnce: repicked,
      // Due → the target's commit returned (fsync done).
      durableLatenessP50Ms: committed.p50,
      durableLatenessP99Ms: committed.p99,
      durableLatenessMaxMs: committed.max,
      dueTimersCalls: watch.dueTimers.calls,
      timersPerDueTimersCall: watch.dueTimers.calls > 0 ? round(watch.dueTimers.items / watch.dueTimers.calls, 1) : null,
      dueTimersBusyPct: pct(watch.dueTimers.ms),
      commits: watch.commit.calls,
      writesPerCommit: watch.commit.calls > 0 ? round(watch.commit.items / watch.commit.calls, 1) : null,
      commitBusyPct: pct(watch.commit.ms),
      finishTimerCalls: watch.finishTimer.calls,
      finishTimerMsAvg: watch.finishTimer.calls > 0 ? round(watch.finishTimer.ms / watch.finishTimer.calls, 3) : null,
      finishTimerBusyPct: pct(watch.finishTimer.ms),
      retryTimerCalls: watch.retryTimer.calls,
      fsyncs: fireFsyncs ?? null,
      fsyncsPerTimer: fireFsyncs === undefined ? null : round(fireFsyncs / timerCount, 2),
      cpuPct: used.selfCpuPct,
      otherCpuPct: used.otherCpuPct,
      seconds: round(elapsedMs / 1000, 2),
    });
  } finally {
    await runtime.stop();
  }
}

async function main(): Promise<void> {
  log(
    `node ${process.version}; ${modes.join(", ")}; ${timerCount} timers to ${targets} instances, lead ${leadMs} ms, spread ${spreadMs} ms; ` +
      `synchronous=${synchronous}${fsyncsCounted() ? "; counting fsyncs with perf" : ""}`,
  );
  for (const mode of modes) {
    await run(mode);
    program.removeDataDirs();
  }
}

await program.run(main);
