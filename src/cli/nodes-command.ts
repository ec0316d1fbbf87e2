import { clockOffsetWarnMs } from "../runtime/cluster/clock-offset.ts";
import type { NodesReport } from "../runtime/cluster/membership.ts";
import { adminTarget, adminRequest, printTable } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const nodesUsage = `  sagaflow nodes                               live nodes, their clocks against the database's, and the leases (shares of work) each holds`;

/** `sagaflow nodes`: which nodes share the store and what each one runs. */
export async function nodesCommand(argv: string[]): Promise<void> {
  const { flags } = parseArgs(argv, { values: ["admin", "admin-token"] }, "nodes");
  const base = adminTarget(flags);
  const report = (await adminRequest(base, "GET", "/nodes")) as NodesReport;
  const rows = report.nodes.map((n) => ({
    node: n.id === report.self ? `${n.id} (this)` : n.id,
    alive: n.alive ? "yes" : `no (silent ${Math.round(n.heartbeatAgeMs / 1000)} s)`,
    url: n.info["url"] ?? "",
    // Where to send what only the lease holder does (parked retries, view rebuilds).
    admin: n.info["admin"] ?? "",
    leases: `${n.leases.length}: ${compact(n.leases)}`,
    // Measured at its heartbeats: past a second, its timers and timeouts fire early or late.
    clock: typeof n.info["clockOffsetMs"] === "number" ? clockOffset(n.info["clockOffsetMs"]) : "",
  }));
  // One node (SQLite) has no other clock to disagree with.
  printTable(rows, ["node", "alive", "url", "admin", ...(report.clustered ? ["clock"] : []), "leases"], "no nodes");
  if (!report.clustered) console.log("one node: the store (SQLite) is not shared");
  if (report.unheld.length > 0) console.log(`not held (taken within ~${(2 * report.leaseMs) / 1000} s): ${compact(report.unheld)}`);
}

/** A node's clock against the database's: "in step" within a second, else how far and which way. */
function clockOffset(offsetMs: number): string {
  if (Math.abs(offsetMs) <= clockOffsetWarnMs) return "in step";
  return `${(Math.abs(offsetMs) / 1000).toFixed(1)} s ${offsetMs > 0 ? "behind" : "ahead"}`;
}

/** "workflows/0, workflows/1, workflows/2" → "workflows/0,1,2". */
function compact(leases: string[]): string {
  const groups = new Map<string, string[]>();
  for (const lease of leases) {
    const slash = lease.indexOf("/");
    const [kind, part] = slash < 0 ? [lease, ""] : [lease.slice(0, slash), lease.slice(slash + 1)];
    groups.set(kind, [...(groups.get(kind) ?? []), part]);
  }
  const byNumber = (a: string, b: string) => Number(a) - Number(b) || a.localeCompare(b);
  return [...groups].map(([kind, parts]) => (parts.every((p) => p === "") ? kind : `${kind}/${parts.sort(byNumber).join(",")}`)).join(" ");
}
