import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { retentionPeriodText } from "./retention-command.ts";

describe("sagaflow retention's periods", () => {
  it("are-said-in-the-unit-that-fits-not-as-0-days", () => {
    assert.deepEqual(
      [0, 5_000, 90_000, 2 * 3_600_000, 7 * 86_400_000].map(retentionPeriodText),
      ["kept forever", "5 seconds", "1.5 minutes", "2 hours", "7 days"],
    );
  });
});
