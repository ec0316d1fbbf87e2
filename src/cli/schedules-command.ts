import { adminRequest, adminTarget, printTable } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const schedulesUsage = `  sagaflow schedules                           cron schedules: state, last and next tick, why the last one failed
  sagaflow schedules pause|resume <name>       stop or restart firing (ticks while paused are skipped)`;

const iso = (ms: unknown) => (typeof ms === "number" ? new Date(ms).toISOString() : "-");

/** `sagaflow schedules [pause|resume <name>]`. */
export async function schedulesCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, { values: ["admin", "admin-token"] }, "schedules");
  const base = adminTarget(flags);
  const [action, name] = positionals;
  if (action === undefined) {
    const { schedules } = (await adminRequest(base, "GET", "/schedules")) as { schedules: Array<Record<string, unknown>> };
    const rows = schedules.map((s) => ({ ...s, paused: s["paused"] ? "paused" : "active", lastTick: iso(s["lastTick"]), nextTick: iso(s["nextTick"]) }));
    printTable(rows, ["name", "cron", "timeZone", "missed", "paused", "lastTick", "nextTick", "target", "lastError"], "no schedules");
    return;
  }
  if ((action === "pause" || action === "resume") && name !== undefined && positionals.length === 2) {
    console.log(JSON.stringify(await adminRequest(base, "POST", `/schedules/${encodeURIComponent(name)}/${action}`)));
    return;
  }
  throw new Error(`usage:\n${schedulesUsage}`);
}
