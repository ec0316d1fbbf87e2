import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { retentionFromFlags } from "./retention-flags.ts";

describe("sagaflow serve's retention flags", () => {
  it("flags-win-over-variables-units-and-bare-days", () => {
    const flags = new Map([["retain-feed", "0"], ["retain-workflows", "12h"]]);
    const env = { SAGAFLOW_RETAIN_FEED: "3d", SAGAFLOW_RETAIN_IDEMPOTENCY: "30", SAGAFLOW_RETAIN_TOMBSTONES: "", SAGAFLOW_RETENTION_INTERVAL: "90s" };
    assert.deepEqual(retentionFromFlags(flags, env), { feedMs: 0, workflowsMs: 12 * 3_600_000, idempotencyMs: 30 * 86_400_000, intervalMs: 90_000 });
    assert.deepEqual(retentionFromFlags(new Map(), {}), {});
  });

  it("a-bad-period-names-its-flag-or-variable-and-keeps-nothing", () => {
    assert.throws(() => retentionFromFlags(new Map([["retain-idempotency", "0"]]), {}), /--retain-idempotency must be a duration > 0/);
    assert.throws(() => retentionFromFlags(new Map(), { SAGAFLOW_RETAIN_FEED: "7 days" }), /SAGAFLOW_RETAIN_FEED must be a duration \(0 keeps forever\)/);
    assert.throws(() => retentionFromFlags(new Map([["retention-interval", "-5s"]]), {}), /--retention-interval/);
  });
});
