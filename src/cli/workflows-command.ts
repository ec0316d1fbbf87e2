import { adminTarget, adminRequest as admin, printTable, withFlagsAsQuery } from "./admin-client.ts";
import { outcomeOf } from "../runtime/workflow/outcome.ts";
import { parseArgs } from "./args.ts";

export const workflowsUsage = `  sagaflow workflows list [--name N] [--status running,failed] [--step S] [--id-prefix P] [--outcome O] [--limit N] [--after NEXT]
  sagaflow workflows show <name> <id> [--history-after V]   (1,000 transitions a page)
  sagaflow workflows suspend|resume|terminate|retry|cancel <name> <id>
      (terminate: stop now, effects left in place; cancel: run its cancel step, a saga compensates)
  sagaflow workflows retry <saga> <id> --undone-by-hand STEP
      (a saga stopped in its compensations: you undid STEP by hand; the rest is compensated)
  sagaflow workflows retry <saga> <id> --forward
      (a saga stopped at a step done in part that nothing undoes: that step is finished, then the rest)
      (talk to a running service's admin API: --admin URL, default http://127.0.0.1:3001, or PORT + 1)`;

/** `sagaflow workflows …`: operator controls over the admin API. */
export async function workflowsCommand(argv: string[]): Promise<void> {
  const { positionals, flags, lists } = parseArgs(argv, { values: ["admin", "admin-token", "name", "status", "step", "id-prefix", "outcome", "limit", "after", "history-after", "undone-by-hand"], booleans: ["forward"] }, "workflows");
  const base = adminTarget(flags);
  const [action, name, id] = positionals;
  if (action === "list") {
    const path = withFlagsAsQuery("/workflows", flags, ["name", "status", "step", ["id-prefix", "idPrefix"], "outcome", "limit", "after"]);
    const { workflows, next } = (await admin(base, "GET", path)) as { workflows: Array<Record<string, unknown>>; next: string | null };
    // An ended workflow's record from an older version may keep the error of an attempt that later
    // succeeded (ending now clears it): shown, it would read like a failure.
    const rows = workflows.map((w) => ({
      ...w,
      // A saga's own status (completed, compensated, requires_manual_intervention …), as --outcome filters it.
      outcome: outcomeOf(w["state"]) ?? "",
      lastError: w["status"] === "ended" ? "" : ((w["lastError"] as { code?: string } | null)?.code ?? ""),
    }));
    // A search without a name stops after scanning a bounded number of rows: an empty page with a
    // `next` means none matched so far, not none at all.
    printTable(rows, ["name", "id", "status", "outcome", "step", "attempt", "lastError"], next === null ? "no workflows" : "none matched in the workflows scanned so far");
    // A full page may not be all: say how to read on (on stderr, so the table can be piped).
    if (next !== null) console.error(`more: the same command with --after ${JSON.stringify(next)}`);
    return;
  }
  const actions = ["show", "suspend", "resume", "terminate", "retry", "cancel"];
  if (action === undefined || !actions.includes(action)) {
    throw new Error(`${action === undefined ? "workflows needs an action" : `unknown workflows action "${action}"`}: list, ${actions.join(", ")}\nusage:\n${workflowsUsage}`);
  }
  if (!name || !id) throw new Error(`workflows ${action} needs <name> <id>${name ? ` (got only "${name}")` : ""}\nusage:\n${workflowsUsage}`);
  const path = `/workflows/${encodeURIComponent(name)}/${encodeURIComponent(id)}`;
  if (action === "show") {
    if (positionals.length > 3) throw new Error(`unexpected ${JSON.stringify(positionals[3])} after <name> <id>\nusage:\n${workflowsUsage}`);
    const shown = (await admin(base, "GET", withFlagsAsQuery(path, flags, [["history-after", "historyAfter"]]))) as { historyNext?: number };
    console.log(JSON.stringify(shown, null, 2));
    if (shown.historyNext !== undefined) console.error(`more: the same command with --history-after ${shown.historyNext}`);
  } else {
    // Ignored, a step named without its flag would make a plain retry: the compensation run again.
    if (positionals.length > 3) throw new Error(`unexpected ${JSON.stringify(positionals[3])} after <name> <id>; a saga's step undone by hand goes with --undone-by-hand STEP\nusage:\n${workflowsUsage}`);
    if ((lists.get("undone-by-hand")?.length ?? 0) > 1) throw new Error("--undone-by-hand is given more than once: name the one step the compensations stopped at");
    const actionPath = withFlagsAsQuery(`${path}/${action}`, flags, [["undone-by-hand", "undoneByHand"], "forward"]);
    // The action applies after the step attempt in progress: say so rather than sit silent.
    const waiting = setTimeout(() => console.error(`waiting: ${action} applies once the step attempt in progress is over (at most its timeout)…`), 1_000);
    try {
      console.log(JSON.stringify(await admin(base, "POST", actionPath)));
    } finally {
      clearTimeout(waiting);
    }
  }
}
