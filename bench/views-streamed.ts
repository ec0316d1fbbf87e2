/**
 * The views bench's streamed case (BENCH_MODES=streamed): what streamed view queries cost the
 * writes. The shop runs in a process of its own (bench/views-streamed-server.ts); BENCH_STREAM_CARTS
 * open carts make the `carts/open` result large (≈77 KB at 850). Then, for each case, for
 * BENCH_STREAM_SECONDS: BENCH_STREAM_WRITERS closed-loop writers send `addItem` to those carts
 * (each write changes the streamed result) over HTTP, while
 *   - no stream is open;
 *   - BENCH_STREAM_UNREAD streams are open and never read (a client that stopped reading);
 *   - BENCH_STREAM_READING streams are open and read everything.
 * Figures: writes/s, write latency p50/p99, the server's peak RSS during the case and its RSS a
 * few seconds after the streams closed, and results (bytes) the reading streams got.
 *
 * Environment: BENCH_STREAM_CARTS=850, BENCH_STREAM_SECONDS=5, BENCH_STREAM_WRITERS=8,
 * BENCH_STREAM_UNREAD=100, BENCH_STREAM_READING=1000, BENCH_SYNC=FULL.
 */
import { fork } from "node:child_process";
import http from "node:http";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { forEach, Latencies, numberEnv, requestJson, resetPeakRss, peakRssMb, round, sleep, syncModeEnv } from "./support/load.ts";
import type { BenchProgram } from "./support/program.ts";

const here = dirname(fileURLToPath(import.meta.url));

function rssMb(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? round(Number(match[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

/** An open `GET /views/carts/open` event stream on a socket of its own; `read` says whether it is read. */
function openStream(base: URL, read: boolean): Promise<{ socket: Socket; bytes: () => number }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const socket = connect({ host: base.hostname, port: Number(base.port) });
    socket.on("error", () => {});
    socket.once("connect", () => {
      socket.write(`GET /views/carts/open HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n`);
      if (!read) return resolve({ socket, bytes: () => 0 });
      socket.on("data", (chunk: Buffer) => {
        if (bytes === 0) resolve({ socket, bytes: () => bytes });
        bytes += chunk.length;
      });
    });
    socket.once("error", reject);
  });
}

export async function streamed(program: BenchProgram): Promise<void> {
  const { log, emit, newDataDir } = program;
  const carts = Math.max(1, Math.floor(numberEnv("BENCH_STREAM_CARTS", 850)));
  const seconds = numberEnv("BENCH_STREAM_SECONDS", 5);
  const writers = Math.max(1, Math.floor(numberEnv("BENCH_STREAM_WRITERS", 8)));
  const unread = Math.floor(numberEnv("BENCH_STREAM_UNREAD", 100));
  const reading = Math.floor(numberEnv("BENCH_STREAM_READING", 1_000));
  const child = fork(join(here, "views-streamed-server.ts"), [newDataDir("streamed"), syncModeEnv()], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const stopServer = program.defer(async () => {
    if (child.exitCode !== null) return;
    child.send({ type: "close" });
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(10_000).then(() => child.kill("SIGKILL"))]);
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("message", (m: { url: string }) => resolve(m.url));
    child.once("exit", (code) => reject(new Error(`the bench server exited (${code})`)));
  });
  const base = new URL(url);
  const pid = child.pid!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: writers * 2 });
  const cartId = (i: number) => `cart-${String(i).padStart(5, "0")}`;
  const add = (i: number) =>
    requestJson(agent, base, "POST", `/cart/${cartId(i % carts)}/addItem`, { userId: `user-${i % 97}`, productId: `p${i % 13}`, name: "Pen", quantity: 1, price: 1.5 });
  log(`streamed: filling ${carts} open carts`);
  await forEach(Array.from({ length: carts }, (_, i) => i), 16, async (i) => {
    const res = await add(i);
    if (res.status !== 200) throw new Error(`addItem: ${res.status} ${JSON.stringify(res.body)}`);
  });
  await sleep(500);
  const size = Buffer.byteLength(JSON.stringify((await requestJson(agent, base, "GET", "/views/carts/open")).body));
  log(`streamed: carts/open is ${round(size / 1024, 1)} KB`);

  const cases: Array<{ name: string; streams: number; read: boolean }> = [
    { name: "no streams", streams: 0, read: false },
    { name: `${unread} unread streams`, streams: unread, read: false },
    { name: `${reading} reading streams`, streams: reading, read: true },
  ];
  let n = carts;
  for (const c of cases) {
    const streams: Array<{ socket: Socket; bytes: () => number }> = [];
    for (let i = 0; i < c.streams; i++) streams.push(await openStream(base, c.read));
    await sleep(300);
    resetPeakRss(pid);
    const latencies = new Latencies();
    let writes = 0;
    let errors = 0;
    const end = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(Array.from({ length: writers }, async () => {
      while (performance.now() < end) {
        const at = performance.now();
        const res = await add(n++).catch(() => ({ status: 0 }));
        if (res.status === 200) {
          writes++;
          latencies.push(performance.now() - at);
        } else errors++;
      }
    }));
    const elapsed = performance.now() - started;
    const peak = peakRssMb(pid);
    const received = streams.reduce((sum, s) => sum + s.bytes(), 0);
    for (const s of streams) s.socket.destroy();
    await sleep(3_000);
    const sorted = latencies.sorted();
    const figure = {
      mode: "streamed",
      case: c.name,
      streams: c.streams,
      resultKb: round(size / 1024, 1),
      writesPerSecond: round((writes / elapsed) * 1000, 1),
      errors,
      p50Ms: round(sorted[Math.floor(sorted.length * 0.5)] ?? NaN, 1),
      p99Ms: round(sorted[Math.floor(sorted.length * 0.99)] ?? NaN, 1),
      rssPeakMb: peak,
      rssAfterCloseMb: rssMb(pid),
      receivedMbPerReadingStream: c.read && c.streams > 0 ? round(received / c.streams / 1024 / 1024, 2) : null,
    };
    log(`streamed: ${JSON.stringify(figure)}`);
    emit(figure);
  }
  agent.destroy();
  await stopServer();
}
