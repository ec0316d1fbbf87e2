/**
 * Load-generator helpers shared by benches: JSON over keep-alive HTTP, percentiles, and what
 * Linux tells about another process (peak RSS, CPU time, fsync calls via `perf stat`).
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

/** The p-quantile (0..1) of an ascending array, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
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
 * Counts fsync + fdatasync calls of a process with `perf stat` (kernel tracepoint counters; no
 * per-call cost worth mentioning). `stop()` resolves to undefined where perf is missing or refused.
 * Give perf ~300 ms to attach before the load starts.
 */
export function countSyncCalls(pid: number): { stop(): Promise<number | undefined> } {
  if (!perfAvailable()) return { stop: async () => undefined };
  const perf = spawn(
    "perf",
    ["stat", "-x", ",", "-e", "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync", "-p", String(pid)],
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
