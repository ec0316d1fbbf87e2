import { closestName, wantsHelp } from "./args.ts";
import { commandHelp, devUsage, packageVersion, serveDefaults, serveUsage } from "./help.ts";
import { initCommand, initUsage } from "./init.ts";
import { workflowsCommand, workflowsUsage } from "./workflows-command.ts";
import { feedCommand, feedUsage } from "./feed-commands.ts";
import { schedulesCommand, schedulesUsage } from "./schedules-command.ts";
import { viewsCommand, viewsUsage } from "./views-command.ts";
import { nodesCommand, nodesUsage } from "./nodes-command.ts";
import { tokenCommand, tokenUsage } from "./token-command.ts";
import { backupCommand, backupUsage } from "./backup-command.ts";
import { migrateCommand, migrateUsage } from "./migrate-command.ts";
import { retentionCommand, retentionUsage } from "./retention-command.ts";

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
${tokenUsage}
${backupUsage}
${migrateUsage}
${retentionUsage}
  sagaflow <command> --help                    one command's help
  sagaflow --version

${serveDefaults}`;

/** The commands `main` runs (for a suggestion when one is misspelt). */
const commands = ["serve", "dev", "init", "workflows", "views", "nodes", "token", "backup", "migrate", "retention", "consumers", "parked", "timers", "schedules", "help"];

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
    // Imported here, not above: the runtime and the stores load only for the commands that run them.
    case "serve":
      return (await import("./serve-command.ts")).serveCommand(rest);
    case "dev":
      return (await import("./dev.ts")).runDev(rest);
    case "init":
      return initCommand(rest);
    case "workflows":
      return workflowsCommand(rest);
    case "views":
      return viewsCommand(rest);
    case "nodes":
      return nodesCommand(rest);
    case "token":
      return tokenCommand(rest);
    case "backup":
      return backupCommand(rest);
    case "migrate":
      return migrateCommand(rest);
    case "retention":
      return retentionCommand(rest);
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
    default: {
      const hint = closestName(command, commands);
      throw new Error(`unknown command "${command}"${hint === undefined ? "" : `; did you mean "sagaflow ${hint}"?`} (sagaflow --help lists them)`);
    }
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`sagaflow: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
