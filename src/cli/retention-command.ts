import type { RetentionReport } from "../runtime/retention/retention-service.ts";
import { adminRequest, adminTarget } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const retentionUsage = `  sagaflow retention                           what retention keeps, its last run and what it removed`;

const days = (ms: number) => (ms === 0 ? "kept forever" : `${+(ms / 86_400_000).toFixed(3)} days`);

/** `sagaflow retention`: retention's settings and last run, from the admin API. */
export async function retentionCommand(argv: string[]): Promise<void> {
  const { flags } = parseArgs(argv, { values: ["admin", "admin-token"] }, "retention");
  const r = (await adminRequest(adminTarget(flags), "GET", "/retention")) as RetentionReport;
  const { settings: s } = r;
  console.log(`feed states: ${days(s.feedMs)}; idempotency records: ${days(s.idempotencyMs)}; tombstones: ${days(s.tombstonesMs)}`);
  for (const w of r.workflows) console.log(`workflow ${w.name}: ended and terminated instances ${days(w.retentionMs)}`);
  console.log(`feed states removed up to position ${r.feedPrunedThrough}`);
  const run = r.lastRun;
  if (!run) {
    console.log(r.runningHere ? "no run yet" : "runs on another node (lease retention; see `sagaflow nodes`)");
    return;
  }
  console.log(
    `last run ${new Date(run.startedAt).toISOString()}: removed ${run.removed.feed} feed states, ${run.removed.workflows} workflows, ` +
      `${run.removed.idempotency} idempotency records, ${run.removed.tombstones} tombstones` +
      `${run.complete ? "" : " (more next run)"}${run.error ? `; error: ${run.error}` : ""}`,
  );
  if (run.feedHeldBy) console.log(`feed kept above position ${run.feedFloor}, held by ${run.feedHeldBy}`);
}
