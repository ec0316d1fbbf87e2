import { spawn, type ChildProcess } from "node:child_process";

/** A `node --test` started from a test reports to its parent test runner when this is set. */
function withoutTestRunner(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _ignored, ...rest } = env;
  return rest;
}

/**
 * Runs commands in a user's project made from the packed tarball, as a user would: npm, npx and
 * node from PATH, in an environment without the repository's "sagaflow-source" condition (that
 * would send "sagaflow" to src/, which a tarball does not have).
 */
export const userEnv: NodeJS.ProcessEnv = {
  ...withoutTestRunner(process.env),
  NODE_OPTIONS: (process.env["NODE_OPTIONS"] ?? "").replace(/--conditions[= ]sagaflow-source/g, "").trim(),
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
};

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; `expectCode` (default 0) otherwise rejects with its output. */
export function run(command: string, args: string[], cwd: string, options: { expectCode?: number | null; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  const child = spawn(command, args, { cwd, env: options.env ?? userEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
  return new Promise((done, fail) => {
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      const expected = options.expectCode === undefined ? 0 : options.expectCode;
      if (expected !== null && code !== expected) {
        fail(new Error(`${command} ${args.join(" ")} (in ${cwd}) exited with ${code}, expected ${expected}:\n${stdout}\n${stderr}`));
      } else done({ code, stdout, stderr });
    });
  });
}

export interface Served {
  url: string;
  output(): string;
  /** SIGTERM to the whole process group (npx / npm start run sagaflow as a child), then its exit. */
  stop(): Promise<void>;
}

/** Starts a long-running command in its own process group; resolves once it prints "serving … on URL". */
export function serveCommand(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv): Promise<Served> {
  const child: ChildProcess = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<void>((done) => child.once("close", () => done()));
  const stop = async () => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
    await exited;
  };
  return new Promise((ready, fail) => {
    const timer = setTimeout(() => {
      void stop();
      fail(new Error(`${command} ${args.join(" ")} did not serve within 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = /serving .* on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        ready({ url: match[1]!, output: () => output, stop });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      fail(new Error(`${command} ${args.join(" ")} exited before serving:\n${output}`));
    });
  });
}
