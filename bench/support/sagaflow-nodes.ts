/**
 * `sagaflow serve` processes for the HTTP benches, started exactly as users start them
 * (`node bin/sagaflow.mjs serve <service> --port 0 …`, from the built package unless
 * BENCH_SERVER_FROM=source: ./built-package.ts): their addresses are read from what they
 * print, their stderr is passed on with their name in front, and they stop with SIGTERM (SIGKILL
 * after 10 s). Several nodes on one PostgreSQL schema share the work with leases: a bench waits
 * for the leases to be spread before it measures. The transfers bench's `bare` mode starts
 * ./bare-serve.ts the same way, in place of the CLI.
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NodesReport } from "../../src/runtime/cluster/membership.ts";
import { ensureBuilt, serverFrom } from "./built-package.ts";
import { requestJson, sleep, until } from "./load.ts";

export const bin = fileURLToPath(new URL("../../bin/sagaflow.mjs", import.meta.url));
const counters = fileURLToPath(new URL("./server-counters.ts", import.meta.url));

/** What a server counted so far (./server-counters.ts): its store's commits, the instance writes in them, and PostgreSQL round trips. */
export interface ServerCounts {
  commits: number;
  writes: number;
  /** Writes refused as conflicts (another writer got there first: decided again). */
  conflicts: number;
  pgRoundTrips: number;
  /** The round trips by statement (see statementLabel in ./server-counters.ts). */
  pgRoundTripsBy: Record<string, number>;
  /** Bytes of SQL text sent to PostgreSQL (statements' parameters of named ones not counted). */
  pgBytesSent: number;
}

export interface ServeProcess {
  name: string;
  pid: number;
  url: URL;
  adminUrl: URL;
  /** Its counts now (it writes them when asked: ./server-counters.ts). */
  counts(): Promise<ServerCounts>;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>;
}

/** The transfers bench's `bare` server (./bare-serve.ts): started like `serve`, with the same arguments. */
export const bareServe = fileURLToPath(new URL("./bare-serve.ts", import.meta.url));

/** Starts `sagaflow serve <service> --port 0 ...args` (or `entry`, which takes the same arguments) and resolves once it serves. */
export async function startServe(name: string, service: string, args: readonly string[], nodeArgs: readonly string[] = [], entry = bin): Promise<ServeProcess> {
  // The build of this checkout (built again if older than its sources) or its sources, with the counters loaded first.
  const from = serverFrom();
  if (from === "build") ensureBuilt((line) => process.stderr.write(`bench: ${line}\n`));
  const countsFile = join(tmpdir(), `sagaflow-bench-counters-${process.pid}-${name}-${Date.now()}.json`);
  const child = spawn(
    process.execPath,
    [...(from === "source" ? ["--conditions=sagaflow-source"] : []), "--import", "tsx", "--import", counters, ...nodeArgs, entry, "serve", service, "--port", "0", ...args],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SAGAFLOW_BENCH_COUNTERS: countsFile, SAGAFLOW_BENCH_FROM: from } },
  );
  const read = (): (ServerCounts & { written: number }) | undefined => {
    try {
      return JSON.parse(readFileSync(countsFile, "utf8")) as ServerCounts & { written: number };
    } catch {
      return undefined; // not written yet, or caught half written
    }
  };
  const counts = async (): Promise<ServerCounts> => {
    const before = read()?.written ?? 0;
    child.kill("SIGUSR2");
    let now: (ServerCounts & { written: number }) | undefined;
    if (!(await until(() => ((now = read())?.written ?? 0) > before, 5_000, 5))) throw new Error(`${name} did not write its counters within 5 s`);
    const { commits, writes, conflicts, pgRoundTrips, pgRoundTripsBy, pgBytesSent } = now!;
    return { commits, writes, conflicts, pgRoundTrips, pgRoundTripsBy, pgBytesSent };
  };
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
    }
    // The counters file is this process's alone: left behind, one piled up in the temp folder per run.
    rmSync(countsFile, { force: true });
  };
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => process.stderr.write(chunk.replace(/^(?=.)/gm, `${name}: `)));
  try {
    const { url, adminUrl } = await new Promise<{ url: URL; adminUrl: URL }>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s; it said: ${out}`)), 30_000);
      child.once("exit", (code) => reject(new Error(`${name} exited with ${code} before it was ready: ${out}`)));
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk: string) => {
        out += chunk;
        const served = /serving .* on (http:\/\/\S+)/.exec(out);
        const admin = /admin API on (http:\/\/\S+)/.exec(out);
        if (served && admin) {
          clearTimeout(timer);
          resolve({ url: new URL(served[1]!), adminUrl: new URL(admin[1]!) });
        }
      });
    });
    return { name, pid: child.pid!, url, adminUrl, counts, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Starts `count` nodes named n0, n1, … together; if one fails, the others are stopped. */
export async function startNodes(count: number, service: string, args: (name: string) => string[], nodeArgs: readonly string[] = [], entry = bin): Promise<ServeProcess[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startServe(`n${i}`, service, args(`n${i}`), nodeArgs, entry)));
  const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw failed.reason;
  }
  return nodes;
}

/** Whether `nodes` live nodes each hold leases and none is unheld: the work is spread over all of them. */
export const leasesSpread = (report: NodesReport, nodes: number): boolean =>
  report.unheld.length === 0 && report.nodes.filter((n) => n.alive && n.leases.length > 0).length === nodes;

/** A node's `GET /nodes` (admin API). */
export async function nodesReport(adminUrl: URL): Promise<NodesReport> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const res = await requestJson(agent, adminUrl, "GET", "/nodes");
    if (res.status !== 200) throw new Error(`GET ${adminUrl.origin}/nodes: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as NodesReport;
  } finally {
    agent.destroy();
  }
}

/** Polls `read` until the leases are spread over `nodes` nodes (see leasesSpread); fails after a minute. */
export async function waitForLeasesSpread(read: () => Promise<NodesReport>, nodes: number): Promise<NodesReport> {
  let report: NodesReport | undefined;
  const spread = await until(async () => leasesSpread((report = await read()), nodes), 60_000, 250);
  if (!spread) throw new Error(`leases not spread over ${nodes} nodes within 60 s: ${JSON.stringify(report)}`);
  return report!;
}
