import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect as tcpConnect } from "node:net";
import { rmSync } from "node:fs";
import { tempDir, sleep } from "./server-process.ts";

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

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    socket.once("data", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A JetStream server on a free port with a folder of its own; `restart()` keeps its data. */
export class NatsServer {
  private child: ChildProcess | undefined;
  readonly storeDir = tempDir("sagaflow-nats-");

  private constructor(
    private readonly binary: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(binary: string): Promise<NatsServer> {
    const server = new NatsServer(binary, await freePort());
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    const child = spawn(this.binary, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir], { stdio: "ignore" });
    child.unref();
    this.child = child;
    for (let i = 0; i < 200; i++) {
      if (await answers(this.port)) return;
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
      await sleep(50);
    }
    throw new Error(`nats-server did not answer on port ${this.port}`);
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
