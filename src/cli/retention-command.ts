import type { RetentionReport } from "../runtime/retention/retention-service.ts";
import { adminRequest, adminTarget } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const retentionUsage = `  sagaflow retention                           what retention keeps, its last run and what it removed`;

/** A retention period as people read it: days, or hours, minutes, seconds when shorter (a 10 s test period is not "0 days"). */
export const retentionPeriodText = (ms: number): string => {
  if (ms === 0) return "kept forever";
  const [size, unit] = ms >= 86_400_000 ? [86_400_000, "days"] : ms >= 3_600_000 ? [3_600_000, "hours"] : ms >= 60_000 ? [60_000, "minutes"] : [1_000, "seconds"];
  return `${+(ms / size).toFixed(3)} ${unit}`;
};

/** `sagaflow retention`: retention's settings and last run, from the admin API. */
export async function retentionCommand(argv: string[]): Promise<void> {
  const { flags } = parseArgs(argv, { values: ["admin", "admin-token"] }, "retention");
  const r = (await adminRequest(adminTarget(flags), "GET", "/retention")) as RetentionReport;
  const { settings: s } = r;
  console.log(`feed states: ${retentionPeriodText(s.feedMs)}; idempotency records: ${retentionPeriodText(s.idempotencyMs)}; tombstones: ${retentionPeriodText(s.tombstonesMs)}`);
  console.log(`workflow histories: ${s.historyKept === 0 ? "kept whole" : `the first transition and the newest ${s.historyKept}`}`);
  for (const w of r.workflows) console.log(`workflow ${w.name}: ended and terminated instances ${retentionPeriodText(w.retentionMs)}`);
  for (const other of r.otherSettings ?? []) {
    const differ = (Object.keys(s) as Array<keyof typeof s>).filter((k) => other.settings[k] !== s[k]).map((k) => `${k} ${other.settings[k]} (here ${s[k]})`);
    console.error(`WARNING: node ${other.node} runs retention with other settings: ${differ.join(", ")}; the node holding the retention lease decides for all, and the lease moves: give every node the same`);
  }
  console.log(`feed states removed up to position ${r.feedPrunedThrough}`);
  const run = r.lastRun;
  if (!run) {
    console.log(r.runningHere ? "no run yet" : "runs on another node (lease retention; see `sagaflow nodes`)");
    return;
  }
  console.log(
    `last run ${new Date(run.startedAt).toISOString()}: removed ${run.removed.feed} feed states, ${run.removed.workflows} workflows, ` +
      `${run.removed.idempotency} idempotency records, ${run.removed.tombstones} tombstones, ${run.removed.history} history transitions` +
      `${run.complete ? "" : " (it went through part of what it looks at: the next run goes on)"}${run.error ? `; error: ${run.error}` : ""}`,
  );
  if (run.feedHeldBy) console.log(`feed kept above position ${run.feedFloor}, held by ${run.feedHeldBy}`);
}
