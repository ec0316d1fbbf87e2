import { spawn, type ChildProcess } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "./args.ts";
import { serveFlags } from "./help.ts";
import { resolveServiceModule } from "./load-service.ts";
import { watchTree } from "./watch-tree.ts";

const bin = resolve(dirname(fileURLToPath(import.meta.url)), "../../bin/sagaflow.mjs");

/** `sagaflow dev`: runs `serve` in a child process and restarts it when a file changes. */
export async function runDev(argv: string[]): Promise<void> {
  const { positionals } = parseArgs(argv, serveFlags, "dev");
  const target = positionals[0];
  if (!target) throw new Error("dev needs a service module or folder");
  const watched = dirname(resolveServiceModule(target));
  let child: ChildProcess | undefined;
  let restarting: NodeJS.Timeout | undefined;

  const start = () => {
    child = spawn(process.execPath, [bin, "serve", ...argv], { stdio: "inherit" });
  };
  const restart = (file: string) => {
    clearTimeout(restarting);
    restarting = setTimeout(() => {
      console.log(`sagaflow dev: ${file} changed, restarting`);
      const old = child;
      if (!old || old.exitCode !== null) return start();
      old.once("exit", start);
      old.kill("SIGTERM");
    }, 150);
  };
  watchTree(watched, restart);
  console.log(`sagaflow dev: watching ${watched}`);
  start();
  const stop = () => {
    child?.kill("SIGTERM");
    child?.once("exit", () => process.exit(0));
    if (!child || child.exitCode !== null) process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
