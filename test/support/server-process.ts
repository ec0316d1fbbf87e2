import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Runs `sagaflow serve` as a real child process for end-to-end, crash and shutdown tests: on a
 * data folder of its own, on a free port (`--port 0`, the URL read from what it prints), killed
 * with any signal and restarted on the same data as often as a test likes.
 *
 * @example
 * const server = await SagaflowProcess.start({ target: "examples/bank" });
 * try {
 *   await postJson(`${server.url}/wallet/w1/create`, { initialBalance: 5 });
 *   await server.restart();            // SIGKILL, then serve the same data again
 *   const exit = await server.stop();  // SIGTERM: { code: 0, signal: null } when graceful
 * } finally {
 *   await server.cleanup();            // kills it if needed and removes its temporary data folder
 * }
 */

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const sagaflowBin = resolve(repoRoot, "bin/sagaflow.mjs");

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** A fresh folder under the OS temp folder. */
export function tempDir(prefix = "sagaflow-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** How a child ended: `code` when it exited, `signal` when a signal killed it. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SagaflowProcessOptions {
  /** The service module or folder to serve (absolute, or relative to the repository root). */
  target: string;
  /** Where the SQLite file lives. Default: a new temporary folder, removed by `cleanup()`. */
  dataDir?: string;
  /** More `serve` flags, e.g. `["--sync", "NORMAL"]`. */
  args?: string[];
  /** Variables added to the child's environment. */
  env?: Record<string, string>;
  /** How long a start may take before it counts as failed. Default 20 s. */
  readyTimeoutMs?: number;
  /** Copies the child's output to this process's stderr (also on with SAGAFLOW_TEST_ECHO=1). */
  echo?: boolean;
}

/** Children still running, killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/**
 * Keeps this process alive while `promise` is pending. Children and their pipes are unref'd (so a
 * child a test forgot to stop cannot keep the test process running; the exit hook above kills it),
 * hence waiting for a child needs a reference of its own.
 */
async function held<T>(promise: Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => {}, 1_000);
  try {
    return await promise;
  } finally {
    clearInterval(keepAlive);
  }
}

/** Output kept per run: the newest part only, so a long crash test cannot fill memory. */
const maxOutputChars = 1 << 20;

interface Run {
  child: ChildProcess;
  url: string;
  adminUrl: string | undefined;
  output: string;
  exited: Promise<ExitInfo>;
  listeners: Set<() => void>;
}

export class SagaflowProcess {
  readonly dataDir: string;
  readonly target: string;
  /** How many times the child was started. */
  starts = 0;
  private readonly ownsDataDir: boolean;
  private run: Run | undefined;
  private previousOutput = "";

  private constructor(private readonly options: SagaflowProcessOptions) {
    this.target = isAbsolute(options.target) ? options.target : resolve(repoRoot, options.target);
    this.ownsDataDir = options.dataDir === undefined;
    this.dataDir = options.dataDir ?? tempDir("sagaflow-data-");
  }

  /** Creates the process handle and starts the child; resolves once it serves. */
  static async start(options: SagaflowProcessOptions): Promise<SagaflowProcess> {
    const server = new SagaflowProcess(options);
    try {
      await server.start();
    } catch (error) {
      await server.cleanup();
      throw error;
    }
    return server;
  }

  /** A handle that is not started yet (call `start()`). */
  static create(options: SagaflowProcessOptions): SagaflowProcess {
    return new SagaflowProcess(options);
  }

  /** The SQLite file the child writes. */
  get dbPath(): string {
    return join(this.dataDir, "sagaflow.db");
  }

  get running(): boolean {
    const child = this.run?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** The ingress URL of the current run, e.g. `http://127.0.0.1:41234`. Throws when stopped. */
  get url(): string {
    if (!this.run || !this.running) throw new Error("the sagaflow child is not running");
    return this.run.url;
  }

  /** The admin API's URL, when the child printed one. */
  get adminUrl(): string | undefined {
    return this.run?.adminUrl;
  }

  /** The admin API's URL, waiting for the child to print it (it may come in a later chunk). */
  async admin(): Promise<string> {
    return (await this.waitForOutput(/admin API on (http:\/\/\S+)/, 5_000))[1]!;
  }

  get pid(): number | undefined {
    return this.run?.child.pid;
  }

  /** Resolves when the current run's child is gone. */
  get exited(): Promise<ExitInfo> {
    if (!this.run) return Promise.resolve({ code: null, signal: null });
    return held(this.run.exited);
  }

  /** What the current (or last) run printed, stdout and stderr interleaved. */
  output(): string {
    return this.run?.output ?? "";
  }

  /** What every run printed so far (runs separated by a marker line). */
  allOutput(): string {
    return this.previousOutput + this.output();
  }

  /** Starts the child on `dataDir` and resolves once it prints the URL it serves on. */
  async start(): Promise<void> {
    if (this.running) throw new Error("the sagaflow child is already running");
    if (this.run) this.previousOutput += `${this.run.output}\n----- restart -----\n`;
    const args = [sagaflowBin, "serve", this.target, "--port", "0", "--data", this.dataDir, ...(this.options.args ?? [])];
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, ...this.options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    live.add(child);
    this.starts++;
    const exited = new Promise<ExitInfo>((done) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        done({ code, signal });
      });
    });
    const run: Run = { child, url: "", adminUrl: undefined, output: "", exited, listeners: new Set() };
    this.run = run;
    const echo = this.options.echo ?? process.env["SAGAFLOW_TEST_ECHO"] === "1";
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      if (echo) process.stderr.write(`[sagaflow ${child.pid}] ${text}`);
      run.output += text;
      if (run.output.length > maxOutputChars) run.output = run.output.slice(-maxOutputChars);
      for (const listener of [...run.listeners]) listener();
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();

    const timeoutMs = this.options.readyTimeoutMs ?? 20_000;
    try {
      const match = await this.waitForOutput(/serving .* on (http:\/\/\S+)/, timeoutMs);
      run.url = match[1]!;
    } catch (error) {
      await this.kill("SIGKILL");
      throw new Error(`sagaflow serve ${this.options.target} did not start: ${(error as Error).message}\n${run.output}`);
    }
    // The admin API is printed right after the ingress URL (if it is on).
    run.adminUrl = /admin API on (http:\/\/\S+)/.exec(run.output)?.[1];
  }

  /**
   * Resolves with the first match of `pattern` in the current run's output (already printed or
   * still to come). Rejects if the child exits first or `timeoutMs` passes.
   */
  waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const run = this.run;
    if (!run) return Promise.reject(new Error("the sagaflow child was never started"));
    return new Promise((found, fail) => {
      let done = false;
      const finish = (outcome: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        run.listeners.delete(check);
        outcome();
      };
      const check = () => {
        const match = pattern.exec(run.output);
        if (match) finish(() => found(match));
      };
      const timer = setTimeout(() => finish(() => fail(new Error(`no ${pattern} in the output within ${timeoutMs} ms`))), timeoutMs);
      run.listeners.add(check);
      void run.exited.then((exit) => {
        check();
        finish(() => fail(new Error(`the child exited (${describeExit(exit)}) before printing ${pattern}`)));
      });
      check();
    });
  }

  /** Sends `signal` (default SIGKILL) and resolves once the child is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo> {
    const run = this.run;
    if (!run) return { code: null, signal: null };
    if (this.running) run.child.kill(signal);
    return held(run.exited);
  }

  /**
   * Graceful stop: SIGTERM, then waits for the exit. After `timeoutMs` the child is SIGKILLed and
   * the returned ExitInfo says so (signal SIGKILL), so a test can assert the stop was graceful.
   */
  async stop(timeoutMs = 15_000): Promise<ExitInfo> {
    const run = this.run;
    if (!run) return { code: null, signal: null };
    if (!this.running) return held(run.exited);
    run.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((done) => (timer = setTimeout(() => done("late"), timeoutMs)));
    const first = await Promise.race([run.exited, late]);
    clearTimeout(timer);
    if (first === "late") return this.kill("SIGKILL");
    return first;
  }

  /** Kills the child with `signal` (default SIGKILL) if it runs, then starts it again on the same data. */
  async restart(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo> {
    const exit = await this.kill(signal);
    await this.start();
    return exit;
  }

  /** Kills the child if it still runs and removes the data folder if this handle created it. */
  async cleanup(): Promise<void> {
    await this.kill("SIGKILL");
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export function describeExit(exit: ExitInfo): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}
