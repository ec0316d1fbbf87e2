import { adminTarget, adminRequest, printTable } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const viewsUsage = `  sagaflow views                               each view's offset, lag, rebuild progress and parked entries
  sagaflow views rebuild <view>                rebuilds from the feed, with a progress bar
  sagaflow views rebuild <view> --from current  seeds it from the entities' current state first
                                               (when retention removed states the feed alone lacks)
  sagaflow views parked <view>                 entries the view could not apply
  sagaflow views parked <view> retry|skip <position>`;

interface ViewLine {
  name: string;
  head: number;
  active: { generation: number; offset: number } | null;
  lag: number | null;
  rebuilding: { generation: number; offset: number } | null;
  parked: number;
  lastError: string | null;
}

/** `sagaflow views [rebuild <view>]`. Queries keep being served from the old tables during a rebuild. */
export async function viewsCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, { values: ["admin", "admin-token", "from"] }, "views");
  const base = adminTarget(flags);
  const list = async () => ((await adminRequest(base, "GET", "/views")) as { views: ViewLine[] }).views;
  const [action, name] = positionals;
  if (action === undefined) {
    const rows = (await list()).map((v) => ({
      ...v,
      generation: v.active?.generation ?? "",
      offset: v.active?.offset ?? "",
      rebuilding: v.rebuilding ? `g${v.rebuilding.generation} at ${v.rebuilding.offset}` : "",
      lastError: v.lastError ?? "",
    }));
    printTable(rows, ["name", "generation", "offset", "head", "lag", "rebuilding", "parked", "lastError"], "no views");
    return;
  }
  if (action === "parked" && name) {
    const [, , what, position] = positionals;
    const path = `/views/${encodeURIComponent(name)}/parked`;
    if (what === undefined) {
      const { parked } = (await adminRequest(base, "GET", path)) as { parked: Array<Record<string, unknown>> };
      const rows = parked.map((p) => {
        const error = p["error"] as { code: string; message: string };
        return { ...p, error: `${error.code}: ${error.message}` };
      });
      printTable(rows, ["position", "component", "id", "type", "generation", "attempts", "error"], "no parked entries");
      return;
    }
    if ((what === "retry" || what === "skip") && position !== undefined) {
      console.log(JSON.stringify(await adminRequest(base, "POST", `${path}/${encodeURIComponent(position)}/${what}`)));
      return;
    }
  }
  if (action !== "rebuild" || !name) throw new Error(`usage:\n${viewsUsage}`);
  const from = flags.get("from") ?? "feed";
  if (from !== "feed" && from !== "current") throw new Error(`--from is "feed" or "current", got "${from}"`);
  const path = `/views/${encodeURIComponent(name)}/rebuild${from === "current" ? "?from=current" : ""}`;
  const { rebuilding } = (await adminRequest(base, "POST", path)) as { rebuilding: { generation: number } };
  for (;;) {
    const line = (await list()).find((v) => v.name === name);
    if (!line) throw new Error(`view ${name} is gone`);
    const done = line.active !== null && line.active.generation >= rebuilding.generation;
    const offset = done ? line.head : (line.rebuilding?.offset ?? 0);
    const share = line.head === 0 ? 1 : Math.min(1, offset / line.head);
    const bar = "#".repeat(Math.round(share * 30)).padEnd(30, ".");
    process.stdout.write(`\r[${bar}] ${(share * 100).toFixed(0).padStart(3)}%  ${offset}/${line.head}`);
    if (done) {
      process.stdout.write(`\nview ${name} rebuilt (generation ${rebuilding.generation})\n`);
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
