import { adminTarget, adminRequest, printTable, withFlagsAsQuery } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const feedUsage = `  sagaflow consumers                           offsets, feed head, lag and parked messages (failed ones and those held behind them)
  sagaflow parked <consumer> [--after P] [--limit N]   parked messages (100 a page, after position P)
  sagaflow parked <consumer> retry|skip <position>
  sagaflow timers [--status pending|parked] [--after NEXT] [--limit N]   soonest due first (100 a page, up to 1,000)
  sagaflow timers retry|cancel <name>          a parked timer due again now (once its cause is fixed), or remove a timer`;

/** `sagaflow consumers | parked | timers`: what operators look at between components. */
export async function feedCommand(command: "consumers" | "parked" | "timers", argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, { values: command === "timers" ? ["admin", "admin-token", "status", "after", "limit"] : command === "parked" ? ["admin", "admin-token", "after", "limit"] : ["admin", "admin-token"] }, command);
  const base = adminTarget(flags);
  if (command === "consumers") {
    const { consumers } = (await adminRequest(base, "GET", "/consumers")) as { consumers: Array<Record<string, unknown>> };
    printTable(consumers, ["name", "source", "offset", "head", "lag", "parked"], "no consumers");
    return;
  }
  if (command === "timers") {
    const [action, name] = positionals;
    if (action !== undefined) {
      if ((action !== "retry" && action !== "cancel") || name === undefined || positionals.length > 2) throw new Error(`usage:\n${feedUsage}`);
      console.log(JSON.stringify(await adminRequest(base, "POST", `/timers/${encodeURIComponent(name)}/${action}`)));
      return;
    }
    const { timers, next } = (await adminRequest(base, "GET", withFlagsAsQuery("/timers", flags, ["status", "after", "limit"]))) as { timers: Array<Record<string, unknown>>; next: string | null };
    const rows = timers.map((t) => {
      const error = t["lastError"] as { code: string; message: string } | null;
      return { ...t, dueAt: new Date(t["dueAt"] as number).toISOString(), target: `${t["component"]}/${t["id"]}/${t["handler"]}`, lastError: error ? `${error.code}: ${error.message}` : "" };
    });
    printTable(rows, ["name", "status", "dueAt", "target", "attempts", "lastError"], "no timers");
    // A full page may not be all: say how to read on (on stderr, so the table can be piped).
    if (next !== null) console.error(`more: the same command with --after ${JSON.stringify(next)}`);
    return;
  }
  const [consumer, action, position] = positionals;
  if (!consumer) throw new Error(`usage:\n${feedUsage}`);
  const path = `/consumers/${encodeURIComponent(consumer)}/parked`;
  if (action === undefined) {
    const { parked, next } = (await adminRequest(base, "GET", withFlagsAsQuery(path, flags, ["after", "limit"]))) as { parked: Array<Record<string, unknown>>; next: number | null };
    const rows = parked.map((p) => {
      const entry = p["entry"] as Record<string, unknown>;
      const error = p["error"] as { code: string; message: string };
      return { position: entry["position"], id: entry["id"], type: entry["type"], attempts: p["attempts"], error: `${error.code}: ${error.message}` };
    });
    printTable(rows, ["position", "id", "type", "attempts", "error"], "no parked messages");
    // A full page may not be all: say how to read on (on stderr, so the table can be piped).
    if (next !== null) console.error(`more: the same command with --after ${next}`);
  } else if ((action === "retry" || action === "skip") && position !== undefined) {
    console.log(JSON.stringify(await adminRequest(base, "POST", `${path}/${encodeURIComponent(position)}/${action}`)));
  } else {
    throw new Error(`usage:\n${feedUsage}`);
  }
}
