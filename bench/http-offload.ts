/**
 * Could a second core take the HTTP work off the writer's thread? (issue 13, item 4.) The engine
 * has one writer thread per store; this measures what that thread spends per request when it
 * serves HTTP/1.1 itself, against what it spends when a worker thread parses and answers the HTTP
 * and hands each request over (postMessage, structured clone) and takes the reply back. The
 * request is a transfer's start (`POST /transfer/{id}/start`, a small JSON body); the "handler"
 * only parses the body and builds the reply, so the figures are the HTTP and hand-over costs alone.
 *
 * A third mode, `ingress`, serves the same requests through Sagaflow's own HTTP layer (the ingress
 * handler under the observer's span and metrics wrapper, as `createSagaflow` mounts it: routing,
 * the access rule, the body reader, security headers) over a stub service that answers like the
 * handler above: what the layer costs beyond Node's own HTTP server.
 *
 * The writer thread's time per request is its event-loop active time (performance.eventLoopUtilization):
 * the process's CPU would count the worker too. Load comes from a child process (keep-alive, BENCH_CONCURRENCY
 * in flight). Modes alternate over BENCH_ROUNDS rounds: read the ratio within a round.
 *
 * stdout: one JSON line per mode and round, then one line with the median of each; progress on stderr.
 *
 * Environment:
 *   BENCH_REQUESTS=40000   requests per mode and round
 *   BENCH_CONCURRENCY=64
 *   BENCH_ROUNDS=3
 *
 * Run: npm run bench:http-offload
 */
import { fork } from "node:child_process";
import http from "node:http";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { numberEnv, round } from "./support/load.ts";
import { benchProgram } from "./support/program.ts";
import { access } from "../src/define/access.ts";
import { workflow } from "../src/define/workflow.ts";
import { ExposedRoutes } from "../src/http/exposed-routes.ts";
import { ingressHandler } from "../src/http/ingress.ts";
import { Observer } from "../src/observe/observer.ts";
import type { ServiceFacade } from "../src/runtime/facades.ts";

const requests = Math.floor(numberEnv("BENCH_REQUESTS", 40_000));
const concurrency = Math.floor(numberEnv("BENCH_CONCURRENCY", 64));
const rounds = Math.floor(numberEnv("BENCH_ROUNDS", 3));

interface Handed {
  id: number;
  url: string;
  body: string;
}

/** What the writer would do with a request, reduced to reading its input and answering. */
const handle = (url: string, body: string): string => JSON.stringify({ ok: true, id: url.split("/")[2], input: JSON.parse(body) as unknown });

/** Reads a request's body as text, then calls `done` with it. */
function readBody(req: http.IncomingMessage, done: (body: string) => void): void {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk: string) => (body += chunk));
  req.on("end", () => done(body));
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

/** In the load process: `requests` starts over keep-alive connections, `concurrency` in flight. */
async function loadSide(port: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const body = JSON.stringify({ from: "w12", to: "w345", amount: 17 });
  let sent = 0;
  const one = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", path: `/transfer/t${n}/start`, agent, headers: { "content-type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end(body);
    });
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (sent < requests) await one(sent++);
  }));
  agent.destroy();
}

/** Runs the load against `port` and returns the writer thread's active µs per request and the rate. */
async function measure(port: number): Promise<{ writerThreadUsPerRequest: number; processCpuUsPerRequest: number; requestsPerSecond: number }> {
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const child = fork(new URL(import.meta.url), ["load", String(port)], { execArgv: process.execArgv });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`the load process exited with ${code}`);
  const active = performance.eventLoopUtilization(elu).active;
  const used = process.cpuUsage(cpu);
  const ms = performance.now() - started;
  return {
    writerThreadUsPerRequest: round((active * 1000) / requests, 2),
    processCpuUsPerRequest: round((used.user + used.system) / requests, 2),
    requestsPerSecond: Math.round((requests / ms) * 1000),
  };
}

async function direct(): Promise<Awaited<ReturnType<typeof measure>>> {
  const server = http.createServer((req, res) =>
    readBody(req, (body) => res.writeHead(200, { "content-type": "application/json" }).end(handle(req.url ?? "/", body))),
  );
  try {
    return await measure(await listen(server));
  } finally {
    server.close();
  }
}

/** A transfer workflow exposed as the bank's is; the stub service below answers its start. */
const transfer = workflow("transfer", { start: (input: unknown) => ({ input }), steps: { end: (_s, _i, ctx) => ctx.end() }, expose: access.anyone });

async function viaIngress(): Promise<Awaited<ReturnType<typeof measure>>> {
  const service = {
    callForReply: async (_component: string, id: string, _handler: string, input: unknown) => ({ ok: true, value: { ok: true, id, input } }),
  } as unknown as ServiceFacade;
  const server = http.createServer(new Observer().http(ingressHandler(service, { exposed: new ExposedRoutes([transfer]) })));
  try {
    return await measure(await listen(server));
  } finally {
    server.close();
  }
}

async function viaWorker(): Promise<Awaited<ReturnType<typeof measure>>> {
  const worker = new Worker(new URL("./support/http-offload-worker.mjs", import.meta.url));
  try {
    const port = await new Promise<number>((resolve) => worker.once("message", (m: { port: number }) => resolve(m.port)));
    worker.on("message", (m: Handed) => worker.postMessage({ id: m.id, reply: handle(m.url, m.body) }));
    return await measure(port);
  } finally {
    await worker.terminate();
  }
}

if (process.argv[2] === "load") {
  await loadSide(Number(process.argv[3]));
} else {
  const program = benchProgram("http-offload");
  await program.run(async () => {
    program.log(`node ${process.version}, ${requests} requests per mode and round, ${concurrency} in flight, ${rounds} rounds`);
    const figures: Record<string, number[]> = { direct: [], ingress: [], worker: [] };
    for (let r = 1; r <= rounds; r++) {
      for (const [mode, run] of [["direct", direct], ["ingress", viaIngress], ["worker", viaWorker]] as const) {
        program.log(`round ${r}: ${mode}`);
        const m = await run();
        figures[mode]!.push(m.writerThreadUsPerRequest);
        program.emit({ mode, round: r, ...m });
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    program.emit({
      summary: true,
      directWriterThreadUsPerRequest: median(figures["direct"]!),
      ingressWriterThreadUsPerRequest: median(figures["ingress"]!),
      // What Sagaflow's HTTP layer adds per request to Node's own.
      ingressExtraUsPerRequest: round(median(figures["ingress"]!) - median(figures["direct"]!), 2),
      workerWriterThreadUsPerRequest: median(figures["worker"]!),
      // What the writer thread would save per request if the HTTP part ran on another core.
      savedUsPerRequest: round(median(figures["direct"]!) - median(figures["worker"]!), 2),
    });
  });
}
