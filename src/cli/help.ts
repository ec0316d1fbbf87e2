import { readFileSync } from "node:fs";
import type { FlagSpec } from "./args.ts";
import { feedUsage } from "./feed-commands.ts";
import { schedulesUsage } from "./schedules-command.ts";
import { initUsage } from "./init.ts";
import { nodesUsage } from "./nodes-command.ts";
import { viewsUsage } from "./views-command.ts";
import { workflowsUsage } from "./workflows-command.ts";

/** The flags of `serve` (and of `dev`, which passes them on to `serve`). */
export const serveFlags: FlagSpec = {
  values: ["port", "host", "data", "sync", "admin-port", "postgres", "postgres-schema", "node-name", "lease-ms", "forget-dead-nodes-after"],
  booleans: ["terminate-orphaned-workflows"],
};

export const serveUsage = `  sagaflow serve <service module or folder> [--port N] [--host H] [--data DIR] [--sync FULL|NORMAL|OFF]
                 [--admin-port N] [--terminate-orphaned-workflows]
                 [--postgres URL [--postgres-schema S] [--node-name N] [--lease-ms N]
                  [--forget-dead-nodes-after 3600|90s|30m|1h]]
                 (or SAGAFLOW_DATABASE_URL, SAGAFLOW_NODE_NAME, SAGAFLOW_LEASE_MS, SAGAFLOW_FORGET_DEAD_NODES_AFTER;
                  several nodes may share one schema)`;

export const devUsage = `  sagaflow dev   <service module or folder> [same options as serve]   restarts on file changes`;

export const serveDefaults = `defaults: --port 3000, --host 127.0.0.1, --data ./.sagaflow, --sync FULL (fsync every commit),
          --admin-port: port + 1, on 127.0.0.1 only (-1: none); --forget-dead-nodes-after 3600 (a dead node leaves \`sagaflow nodes\`)`;

const adminNote = `  (each talks to a running service's admin API: --admin URL, default http://127.0.0.1:3001 or SAGAFLOW_ADMIN)`;

/** The help of one command (`sagaflow <command> --help`), or undefined for a command this file does not know. */
export function commandHelp(command: string): string | undefined {
  const usage: Record<string, string> = {
    serve: `${serveUsage}\n\n${serveDefaults}`,
    dev: `${devUsage}\n\n${serveUsage}\n\n${serveDefaults}`,
    init: initUsage,
    workflows: workflowsUsage,
    consumers: `${feedUsage}\n${adminNote}`,
    parked: `${feedUsage}\n${adminNote}`,
    timers: `${feedUsage}\n${adminNote}`,
    schedules: `${schedulesUsage}\n${adminNote}`,
    views: `${viewsUsage}\n${adminNote}`,
    nodes: `${nodesUsage}\n${adminNote}`,
  };
  const text = usage[command];
  return text === undefined ? undefined : `usage:\n${text}`;
}

/** This package's version, from its package.json (two folders up from src/cli or dist/cli). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return manifest.version ?? "unknown";
}
