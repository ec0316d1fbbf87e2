/**
 * The floor under the transfers bench's HTTP figures: the stand-in server of ./http-floor-server.mjs,
 * which answers each request at once with no Sagaflow and no store behind it. Driven by the same
 * load as the bank (the same client, keep-alive, a start then a wait per transfer), it shows what
 * two HTTP requests between two Node processes cost on this machine: a transfer's latency above it
 * is Sagaflow's, below it nothing can go.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sleep } from "./load.ts";

const script = fileURLToPath(new URL("./http-floor-server.mjs", import.meta.url));

export interface FloorServer {
  url: URL;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the stand-in in its own process (plain node, no loader) and resolves once it listens. */
export async function startFloorServer(): Promise<FloorServer> {
  const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the HTTP floor's stand-in exited with ${code} before it listened`)));
    child.stdout.setEncoding("utf8");
    child.stdout.once("data", (line: string) => resolve(Number(line.trim())));
  });
  return {
    url: new URL(`http://127.0.0.1:${port}`),
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(5_000).then(() => child.kill("SIGKILL"))]);
    },
  };
}
