import { durationFlag, parseArgs, portFlag, wantsHelp } from "./args.ts";
import { commandHelp, devUsage, packageVersion, serveDefaults, serveFlags, serveUsage } from "./help.ts";
import { runDev } from "./dev.ts";
import { initCommand, initUsage } from "./init.ts";
import { loadService } from "./load-service.ts";
import { serve } from "./serve.ts";
import { workflowsCommand, workflowsUsage } from "./workflows-command.ts";
import { feedCommand, feedUsage } from "./feed-commands.ts";
import { schedulesCommand, schedulesUsage } from "./schedules-command.ts";
import { viewsCommand, viewsUsage } from "./views-command.ts";
import { nodesCommand, nodesUsage } from "./nodes-command.ts";

const usage = `sagaflow — durable entities, workflows and sagas

usage:
${serveUsage}
${devUsage}
${initUsage}
${workflowsUsage}
${feedUsage}
${schedulesUsage}
${viewsUsage}
${nodesUsage}
  sagaflow <command> --help                    one command's help
  sagaflow --version

${serveDefaults}`;

const syncModes = ["FULL", "NORMAL", "OFF"] as const;

function wholeNumberFlag(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} must be a whole number > 0, got "${value}"`);
  return n;
}

async function serveCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, serveFlags, "serve");
  const target = positionals[0];
  if (!target) throw new Error("serve needs a service module or folder");
  const adminPort = flags.get("admin-port");
  const postgres = flags.get("postgres") ?? process.env["SAGAFLOW_DATABASE_URL"];
  const sync = flags.get("sync")?.toUpperCase();
  if (sync !== undefined && !syncModes.includes(sync as never)) throw new Error(`--sync must be one of ${syncModes.join(", ")}`);
  const nodeName = flags.get("node-name") ?? process.env["SAGAFLOW_NODE_NAME"];
  const leaseMs = flags.get("lease-ms") ?? process.env["SAGAFLOW_LEASE_MS"];
  const forgetAfter = flags.get("forget-dead-nodes-after") ?? process.env["SAGAFLOW_FORGET_DEAD_NODES_AFTER"];
  const service = await loadService(target);
  const running = await serve({
    service,
    port: portFlag(flags.get("port") ?? process.env["PORT"], 3000),
    host: flags.get("host") ?? "127.0.0.1",
    dataDir: flags.get("data") ?? ".sagaflow",
    ...(sync ? { synchronous: sync as (typeof syncModes)[number] } : {}),
    ...(adminPort === undefined ? {} : { adminPort: adminPort === "-1" ? -1 : portFlag(adminPort, 0, "--admin-port") }),
    ...(postgres === undefined ? {} : { postgres }),
    ...(flags.has("postgres-schema") ? { postgresSchema: flags.get("postgres-schema")! } : {}),
    ...(nodeName === undefined ? {} : { nodeName }),
    ...(leaseMs === undefined ? {} : { leaseMs: wholeNumberFlag("--lease-ms", leaseMs) }),
    ...(forgetAfter === undefined ? {} : { forgetDeadNodesAfterMs: durationFlag("--forget-dead-nodes-after", forgetAfter) }),
    ...(flags.has("terminate-orphaned-workflows") ? { orphanedWorkflows: "terminate" as const } : {}),
  });
  const names = service.components.map((c) => c.name).join(", ");
  console.log(`sagaflow: serving "${service.name}" (${names}) on ${running.url}`);
  console.log(postgres === undefined ? `sagaflow: data in ${flags.get("data") ?? ".sagaflow"}/sagaflow.db` : `sagaflow: data in PostgreSQL (schema ${flags.get("postgres-schema") ?? "sagaflow"})`);
  if (running.adminUrl) console.log(`sagaflow: admin API on ${running.adminUrl}`);
  const { membership } = running.runtime;
  if (membership.clustered) console.log(`sagaflow: node ${membership.nodeId}; nodes on this schema share the work (lease ${membership.leaseMs} ms)`);
  const shutdown = (signal: string) => {
    console.log(`sagaflow: ${signal}: finishing in-flight commands`);
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`sagaflow: shutdown failed: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === "--version" || command === "-v" || command === "version") {
    console.log(packageVersion());
    return;
  }
  // `sagaflow <command> --help`: that command's help, and nothing run.
  const help = command === undefined || !wantsHelp(rest) ? undefined : commandHelp(command);
  if (help !== undefined) {
    console.log(help);
    return;
  }
  switch (command) {
    case "serve":
      return serveCommand(rest);
    case "dev":
      return runDev(rest);
    case "init":
      return initCommand(rest);
    case "workflows":
      return workflowsCommand(rest);
    case "views":
      return viewsCommand(rest);
    case "nodes":
      return nodesCommand(rest);
    case "consumers":
    case "parked":
    case "timers":
      return feedCommand(command, rest);
    case "schedules":
      return schedulesCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(usage);
      return;
    default:
      throw new Error(`unknown command "${command}"\n\n${usage}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`sagaflow: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
