import { adminBase, adminRequest, printTable } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const viewsUsage = `  sagaflow views                               each view's offset, lag and rebuild progress
  sagaflow views rebuild <view>                rebuilds from the feed, with a progress bar`;

interface ViewLine {
  name: string;
  head: number;
  active: { generation: number; offset: number } | null;
  lag: number | null;
  rebuilding: { generation: number; offset: number } | null;
  lastError: string | null;
}

/** `sagaflow views [rebuild <view>]`. Queries keep being served from the old tables during a rebuild. */
export async function viewsCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, { values: ["admin"] }, "views");
  const base = adminBase(flags);
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
    printTable(rows, ["name", "generation", "offset", "head", "lag", "rebuilding", "lastError"], "no views");
    return;
  }
  if (action !== "rebuild" || !name) throw new Error(`usage:\n${viewsUsage}`);
  const { rebuilding } = (await adminRequest(base, "POST", `/views/${encodeURIComponent(name)}/rebuild`)) as { rebuilding: { generation: number } };
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
