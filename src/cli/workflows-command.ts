import { adminTarget, adminRequest as admin, printTable } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const workflowsUsage = `  sagaflow workflows list [--name N] [--status running,failed] [--step S] [--limit N]
  sagaflow workflows show <name> <id>
  sagaflow workflows suspend|resume|terminate|retry|cancel <name> <id>
      (terminate: stop now, effects left in place; cancel: run its cancel step, a saga compensates)
      (talk to a running service's admin API: --admin URL, default http://127.0.0.1:3001)`;

/** `sagaflow workflows …`: operator controls over the admin API. */
export async function workflowsCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, { values: ["admin", "admin-token", "name", "status", "step", "limit"] }, "workflows");
  const base = adminTarget(flags);
  const [action, name, id] = positionals;
  if (action === "list") {
    const query = new URLSearchParams();
    for (const key of ["name", "status", "step", "limit"]) {
      const value = flags.get(key);
      if (value !== undefined) query.set(key, value);
    }
    const { workflows } = (await admin(base, "GET", `/workflows?${query}`)) as { workflows: Array<Record<string, unknown>> };
    const rows = workflows.map((w) => ({ ...w, lastError: (w["lastError"] as { code?: string } | null)?.code ?? "" }));
    printTable(rows, ["name", "id", "status", "step", "attempt", "lastError"], "no workflows");
    return;
  }
  if (!name || !id) throw new Error(`usage:\n${workflowsUsage}`);
  const path = `/workflows/${encodeURIComponent(name)}/${encodeURIComponent(id)}`;
  if (action === "show") {
    console.log(JSON.stringify(await admin(base, "GET", path), null, 2));
  } else if (action === "suspend" || action === "resume" || action === "terminate" || action === "retry" || action === "cancel") {
    console.log(JSON.stringify(await admin(base, "POST", `${path}/${action}`)));
  } else {
    throw new Error(`usage:\n${workflowsUsage}`);
  }
}
