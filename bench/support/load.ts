/**
 * Load-generator helpers shared by benches: settings from the environment, running work with so
 * many in flight, JSON over keep-alive HTTP, percentiles, and what Linux tells about a process
 * (peak RSS, CPU time, bytes written, fsync calls via `perf stat`) and the machine (CPU time).
 * Nothing here imports Sagaflow: it measures from outside.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";

export const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0, not ${raw}`);
  return n;
}

export function listEnv(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** A comma-separated list of whole numbers ≥ 1 (BENCH_CONCURRENCY, say). */
export function wholeNumbersEnv(name: string, fallback: string): number[] {
  return listEnv(name, fallback).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: ${s} is not a whole number ≥ 1`);
    return n;
  });
}

/** A comma-separated list of numbers > 0 (BENCH_RATES, say). */
export function positiveNumbersEnv(name: string, fallback: string): number[] {
  return listEnv(name, fallback).map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: ${s} is not a number > 0`);
    return n;
  });
}

/** A comma-separated list of some of `choices` (BENCH_MODES, say); anything else is refused. */
export function choicesEnv<T extends string>(name: string, fallback: string, choices: readonly T[], what = "mode"): T[] {
  return listEnv(name, fallback).map((s) => {
    if (!(choices as readonly string[]).includes(s)) throw new Error(`${name}: unknown ${what} "${s}" (use ${choices.join(", ")})`);
    return s as T;
  });
}

/** BENCH_SYNC: the SQLite synchronous mode to run with (FULL, the default, fsyncs every commit; NORMAL/OFF show what that costs). */
export function syncModeEnv(): "FULL" | "NORMAL" | "OFF" {
  const raw = process.env["BENCH_SYNC"] ?? "FULL";
  const mode = raw.toUpperCase();
  if (mode === "FULL" || mode === "NORMAL" || mode === "OFF") return mode;
  throw new Error(`BENCH_SYNC must be FULL, NORMAL or OFF, not ${raw}`);
}

/** Runs `task` for every item with `concurrency` in flight. */
export async function forEach<T>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Sends `rate` commands per second for `durationMs`, open loop: the schedule does not wait for
 * replies. Returns when all are sent, with how far behind schedule the sender fell at worst.
 */
export async function openLoop(rate: number, durationMs: number, send: (i: number) => unknown): Promise<{ sent: number; elapsedMs: number; maxSlipMs: number }> {
  const total = Math.round((rate * durationMs) / 1000);
  const t0 = performance.now();
  let sent = 0;
  let maxSlipMs = 0;
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000) + 1);
    if (due > sent) maxSlipMs = Math.max(maxSlipMs, now - t0 - (sent * 1000) / rate);
    while (sent < due) send(sent++);
    await sleep(1);
  }
  return { sent, elapsedMs: performance.now() - t0, maxSlipMs };
}

/** Waits until `done()`, checking every `stepMs`, or `timeoutMs`; false on time-out. */
export async function until(done: () => boolean | Promise<boolean>, timeoutMs: number, stepMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > end) return false;
    await sleep(stepMs);
  }
  return true;
}

/** The p-quantile (0..1) of an ascending array, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** The median, 99th percentile and largest of ascending values, rounded to `digits` (NaN for no values). */
export function quantiles(sorted: ArrayLike<number>, digits: number): { p50: number; p99: number; max: number } {
  return {
    p50: round(percentile(sorted, 0.5), digits),
    p99: round(percentile(sorted, 0.99), digits),
    max: round(sorted.length === 0 ? NaN : sorted[sorted.length - 1]!, digits),
  };
}

/** A growable list of latencies in ms. */
export class Latencies {
  private data = new Float64Array(1 << 14);
  length = 0;

  push(ms: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = ms;
  }

  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** One HTTP request with an optional JSON body; resolves with the status and the parsed JSON reply. */
export function requestJson(agent: http.Agent, base: URL, method: "GET" | "POST", path: string, body?: unknown): Promise<JsonResponse> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers: text === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(text) },
      },
      (res) => {
        let reply = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (reply += chunk));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: reply === "" ? undefined : JSON.parse(reply) });
          } catch (error) {
            reject(new Error(`HTTP ${res.statusCode} ${method} ${path}: reply is not JSON: ${reply.slice(0, 200)} (${String(error)})`));
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

/** Peak resident set size (VmHWM) of a process, in MB. */
export function peakRssMb(pid: number): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? round(Number(match[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0), so that a measurement reports its own peak. */
export function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Not Linux or not allowed: the peak then covers the process's whole life so far.
  }
}

/** CPU time (user + system) of a process in ms, from /proc (clock ticks at 100 Hz). */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** Bytes a process caused to be written to storage (write_bytes of /proc/PID/io), or null. */
export function ioBytes(pid: number): number | null {
  try {
    const match = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** CPU time used by the whole machine (all cores; user, nice, system, irq, softirq, steal) in ms, or null. */
export function machineCpuMs(): number | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) * 10;
  } catch {
    return null;
  }
}

/** What a measured window used; CPU percentages are of the window's wall time, 100 = one core busy. */
export interface Usage {
  /** CPU time of this process (the load generator, or all of it when the bench runs in process), ms. */
  selfCpuMs: number;
  selfCpuPct: number;
  /** CPU time of the measured processes, ms: this process's own when it is the one measured; null where /proc cannot tell. */
  targetCpuMs: number | null;
  targetCpuPct: number | null;
  /** CPU that everything else on the machine used meanwhile (well above 0, the figures are disturbed); null where /proc cannot tell. */
  otherCpuPct: number | null;
  /** Bytes the measured processes caused to be written to storage (write_bytes of /proc/PID/io); null where /proc cannot tell. */
  writtenBytes: number | null;
}

/** The sum of `read` over `pids`, or null when any of them cannot be read. */
function sumOver(pids: readonly number[], read: (pid: number) => number | null): number | null {
  let total = 0;
  for (const pid of pids) {
    const value = read(pid);
    if (value === null) return null;
    total += value;
  }
  return total;
}

/**
 * Starts measuring the CPU and disk use of the process(es) under test (this one by default: then
 * the target is this process), of this process and of the machine. `stop` may be told the CPU of
 * other processes the bench accounts for itself (PostgreSQL's, say), which then is not "other".
 */
export function usageWindow(pids: number | readonly number[] = process.pid): { stop(elapsedMs: number, accountedCpuMs?: number): Usage } {
  const targets = typeof pids === "number" ? [pids] : pids;
  const isSelf = targets.length === 1 && targets[0] === process.pid;
  const selfBefore = process.cpuUsage();
  const targetBefore = isSelf ? null : sumOver(targets, cpuMs);
  const machineBefore = machineCpuMs();
  const ioBefore = sumOver(targets, ioBytes);
  return {
    stop(elapsedMs, accountedCpuMs = 0) {
      const self = process.cpuUsage(selfBefore);
      const targetAfter = isSelf ? null : sumOver(targets, cpuMs);
      const machineAfter = machineCpuMs();
      const ioAfter = sumOver(targets, ioBytes);
      const pct = (ms: number) => round((100 * ms) / elapsedMs, 0);
      const selfCpuMs = (self.user + self.system) / 1000;
      const targetCpuMs = isSelf ? selfCpuMs : targetBefore === null || targetAfter === null ? null : targetAfter - targetBefore;
      const otherMs =
        machineBefore === null || machineAfter === null || targetCpuMs === null
          ? null
          : machineAfter - machineBefore - selfCpuMs - (isSelf ? 0 : targetCpuMs) - accountedCpuMs;
      return {
        selfCpuMs,
        selfCpuPct: pct(selfCpuMs),
        targetCpuMs,
        targetCpuPct: targetCpuMs === null ? null : pct(targetCpuMs),
        otherCpuPct: otherMs === null ? null : Math.max(0, pct(otherMs)),
        writtenBytes: ioBefore === null || ioAfter === null ? null : ioAfter - ioBefore,
      };
    },
  };
}

let perfChecked: boolean | undefined;

/** Whether `perf stat` can count syscall tracepoints here (installed and permitted). */
export function perfAvailable(): boolean {
  if (perfChecked !== undefined) return perfChecked;
  if (process.platform !== "linux") return (perfChecked = false);
  const probe = spawnSync("perf", ["stat", "-x", ",", "-e", "syscalls:sys_enter_fdatasync", "--", "true"], { encoding: "utf8" });
  perfChecked = probe.status === 0 && /syscalls:sys_enter_fdatasync/.test(probe.stderr ?? "") && !/not supported|<not counted>/.test(probe.stderr ?? "");
  return perfChecked;
}

/**
 * Counts fsync + fdatasync calls of some processes with `perf stat` (kernel tracepoint counters;
 * no per-call cost worth mentioning). `stop()` resolves to undefined where perf is missing or
 * refused. Give perf ~300 ms to attach before the load starts.
 */
export function countSyncCalls(pids: number | readonly number[]): { stop(): Promise<number | undefined> } {
  if (!perfAvailable()) return { stop: async () => undefined };
  const perf = spawn(
    "perf",
    ["stat", "-x", ",", "-e", "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync", "-p", [pids].flat().join(",")],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let output = "";
  perf.stderr.setEncoding("utf8");
  perf.stderr.on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<void>((done) => {
    perf.once("close", () => done());
    perf.once("error", () => done());
  });
  return {
    async stop() {
      perf.kill("SIGINT");
      await exited;
      let total = 0;
      let found = 0;
      for (const line of output.split("\n")) {
        const [value, , event] = line.split(",");
        if (event?.startsWith("syscalls:sys_enter_f") && /^\d+$/.test(value ?? "")) {
          total += Number(value);
          found++;
        }
      }
      return found === 2 ? total : undefined;
    },
  };
}

/** Whether fsyncs are counted: BENCH_FSYNC is not 0 and `perf stat` can count them here. */
export function fsyncsCounted(): boolean {
  return process.env["BENCH_FSYNC"] !== "0" && perfAvailable();
}

/**
 * Starts counting the fsync and fdatasync calls of process(es) `pids` where `fsyncsCounted()`, giving
 * perf 300 ms to attach before the load starts. `stop()` resolves to undefined where they are not
 * counted (no perf, or no pids).
 */
export async function fsyncWindow(pids: number | readonly number[]): Promise<{ stop(): Promise<number | undefined> }> {
  if (!fsyncsCounted() || (typeof pids !== "number" && pids.length === 0)) return { stop: async () => undefined };
  const counter = countSyncCalls(pids);
  await sleep(300);
  return counter;
}
