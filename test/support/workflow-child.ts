import { spawn, type ChildProcess } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { requestJson as request } from "./http.ts";

/** The repository root and the CLI, for tests that run Sagaflow as a real child process. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const sagaflowBin = resolve(repoRoot, "bin/sagaflow.mjs");

export { sleep } from "./server-process.ts";

/** A `sagaflow serve` child that has printed the URL it listens on. */
export interface ServedChild {
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once the child is gone. */
  readonly exited: Promise<number | null>;
  /** Everything the child wrote so far, stdout and stderr interleaved. */
  output(): string;
  /** Sends `signal` (default SIGKILL) and waits for the child to be gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ServeChildOptions {
  dataDir: string;
  /** More CLI arguments, e.g. `["--terminate-orphaned-workflows"]`. */
  args?: string[];
  readyTimeoutMs?: number;
}

/**
 * Runs `node bin/sagaflow.mjs serve <target> --port 0 --data <dataDir>` and resolves once it
 * serves (with its URL). Rejects with the child's output if it exits or stays silent first.
 */
export function serveChild(target: string, options: ServeChildOptions): Promise<ServedChild> {
  const args = [sagaflowBin, "serve", target, "--port", "0", "--data", options.dataDir, ...(options.args ?? [])];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return new Promise<ServedChild>((ready, fail) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      void kill();
      fail(new Error(`sagaflow serve did not start within ${options.readyTimeoutMs ?? 20_000} ms:\n${output}`));
    }, options.readyTimeoutMs ?? 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = /serving .* on (http:\/\/\S+)/.exec(output);
      if (match && !settled) {
        settled = true;
        clearTimeout(timer);
        ready({ url: match[1]!, child, exited, output: () => output, kill });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fail(new Error(`sagaflow serve exited with ${code} before serving:\n${output}`));
    });
  });
}

/** Runs the CLI to its end (killing it after `timeoutMs`) and returns its exit code and output. */
export function runCli(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [sagaflowBin, ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((done) => {
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

export interface JsonResponse {
  status: number;
  body: any;
}

/**
 * test/support/http.ts's request, answering just `{status, body}` (these tests compare whole
 * answers) and waiting up to 60 s by default (they hold `?wait=` requests).
 */
export async function requestJson(url: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<JsonResponse> {
  const { status, body } = await request(url, { timeoutMs: 60_000, ...init });
  return { status, body };
}
