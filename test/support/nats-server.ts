import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect as tcpConnect } from "node:net";
import { rmSync } from "node:fs";
import { tempDir, sleep } from "./server-process.ts";
import type { Broker } from "../../src/broker/port.ts";
import { connectNats } from "../../src/broker/nats-broker.ts";

/**
 * The tests that use NATS run a server of their own (its own port and JetStream folder), so they
 * may restart it and start from empty streams. They run only when SAGAFLOW_NATS_SERVER names the
 * `nats-server` binary (.ci/run sets it): unset, a file registers nothing and prints one line.
 */
export function natsServerOrSay(what: string): string | undefined {
  const binary = process.env["SAGAFLOW_NATS_SERVER"];
  if (binary) return binary;
  process.stderr.write(`${what} not asked for: set SAGAFLOW_NATS_SERVER (e.g. /usr/sbin/nats-server) to run it\n`);
  return undefined;
}

/** A TCP port nothing listens on just now (the OS picks it, then it is let go). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/**
 * Whether the server on `port` is the one named `name` (its INFO line's server_name): another
 * test file's server may have taken a port between `freePort` and the spawn, and it answers too.
 */
function answersAs(port: number, name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    let head = "";
    socket.on("data", (chunk) => {
      head += chunk.toString("utf8");
      if (!head.includes("\r\n")) return;
      socket.destroy();
      const info = /^INFO\s+(\{.*\})\s*\r\n/.exec(head)?.[1];
      resolve(info !== undefined && (JSON.parse(info) as { server_name?: string }).server_name === name);
    });
    socket.once("error", () => resolve(false));
  });
}

let serversStarted = 0;

/** A JetStream server on a free port with a folder of its own; `restart()` keeps its data. */
export class NatsServer {
  private child: ChildProcess | undefined;
  readonly storeDir = tempDir("sagaflow-nats-");
  /** Told apart from any other server by this name (answersAs). */
  private readonly name = `sagaflow-test-${process.pid}-${++serversStarted}`;

  private constructor(
    private readonly binary: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** On a free port; should another process take that port first, on another. */
  static async start(binary: string): Promise<NatsServer> {
    for (let attempt = 1; ; attempt++) {
      const server = new NatsServer(binary, await freePort());
      try {
        await server.start();
        return server;
      } catch (error) {
        rmSync(server.storeDir, { recursive: true, force: true });
        if (attempt === 3) throw error;
      }
    }
  }

  async start(): Promise<void> {
    const child = spawn(this.binary, ["-a", "127.0.0.1", "-p", String(this.port), "-n", this.name, "-js", "-sd", this.storeDir], { stdio: "ignore" });
    child.unref();
    this.child = child;
    for (let i = 0; i < 200; i++) {
      if (await answersAs(this.port, this.name)) return;
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode} (port ${this.port} taken?)`);
      await sleep(50);
    }
    await this.stop();
    throw new Error(`nats-server ${this.name} did not answer on port ${this.port}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    // The child is unref'd: hold the event loop while waiting for it.
    const keepAlive = setInterval(() => {}, 1_000);
    await exited;
    clearInterval(keepAlive);
  }

  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await sleep(downMs);
    await this.start();
  }

  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

const encoder = new TextEncoder();

/**
 * JetStream answers a test waits out rather than fails on: "no responders" (503: a stream just
 * made on a server just started may not listen on its subjects yet) and an API call timed out
 * (a fresh server on a loaded CI machine once took over 5 s to answer). Both seen once in CI; the
 * product's runners and publishers retry on their own, the tests' direct calls did not.
 */
const passingCodes = new Set(["503", "TIMEOUT"]);

async function patiently<T>(call: () => Promise<T>, withinMs = 30_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!passingCodes.has(String((error as { code?: unknown }).code)) || Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

/** A connection for a test's own stream making and publishing, patient as above (connecting, making streams, publishing). */
export async function testBroker(url: string): Promise<Broker> {
  const broker = await patiently(() => connectNats(url, () => {}));
  return {
    url: broker.url,
    ensureStream: (spec) => patiently(() => broker.ensureStream(spec)),
    streamMaking: (stream, durable) => broker.streamMaking(stream, durable),
    subscribe: (options) => broker.subscribe(options),
    // The message id makes a repeat harmless.
    publish: (subject, data, options) => patiently(() => broker.publish(subject, data, options)),
    close: () => broker.close(),
  };
}

/** Publishes `text` under the message id `msgId` (patiently on a testBroker). */
export function publishText(broker: Broker, subject: string, text: string, msgId: string): Promise<{ seq: number; duplicate: boolean }> {
  return broker.publish(subject, encoder.encode(text), { msgId });
}
