import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { consumer } from "../../define/consumer.ts";
import { entity } from "../../define/entity.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";

/**
 * A consumer behind newer code's events (a rollback, or an older node holding the consumer's lease
 * in a rolling deploy) meets an event type its entity's definition lacks. That type is not one the
 * consumer chose to leave out: `ignoreUnknown` must not skip it for good. The instance waits
 * (other instances go on), nothing is skipped or parked, and code that knows the type delivers it.
 */

type Account = { balance: number };
const deposited = (s: Account, e: { amount: number }) => ({ balance: s.balance + e.amount });
const acctV1 = entity("acct", { initial: (): Account => ({ balance: 0 }), events: { deposited } }, {
  commands: { deposit: (_s, c: { amount: number }, fx) => fx.emit("deposited", c).reply(true) },
});
const acctV2 = entity("acct", { initial: (): Account => ({ balance: 0 }), events: { deposited, bonused: deposited } }, {
  commands: {
    deposit: (_s, c: { amount: number }, fx) => fx.emit("deposited", c).reply(true),
    bonus: (_s, c: { amount: number }, fx) => fx.emit("bonused", c).reply(true),
  },
});

describe("a consumer meeting an event type its entity's definition lacks (newer code wrote it)", () => {
  it("waits-on-that-instance-skipping-and-parking-nothing-until-code-that-knows-the-type-delivers-it", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-consumer-newer-type-"));
    const path = join(dir, "sagaflow.db");
    const seen: Record<string, string[]> = { audit: [], strict: [] };
    const record = (name: string) => (type: string) => (_e: unknown, ctx: { id: string; position: number }) => void seen[name]!.push(`${ctx.id}:${type}@${ctx.position}`);
    const auditOn = record("audit");
    const strictOn = record("strict");
    // v1: handles deposits only; `audit` ignores types it has no handler for, `strict` does not.
    const auditV1 = consumer("audit", { source: acctV1, events: { deposited: auditOn("deposited") }, ignoreUnknown: true });
    const strictV1 = consumer("strict", { source: acctV1, events: { deposited: strictOn("deposited") } });
    const auditV2 = consumer("audit", { source: acctV2, events: { deposited: auditOn("deposited"), bonused: auditOn("bonused") }, ignoreUnknown: true });
    const strictV2 = consumer("strict", { source: acctV2, events: { deposited: strictOn("deposited"), bonused: strictOn("bonused") } });
    try {
      // v2 writes while its consumers are behind (not running).
      const writer = new Runtime({ store: new SqliteStore({ path }), components: [acctV2], log: () => {} });
      await writer.start();
      await writer.call("acct", "x", "deposit", { amount: 1 }); // 1
      await writer.call("acct", "x", "bonus", { amount: 10 }); // 2
      await writer.call("acct", "x", "bonus", { amount: 10 }); // 3
      await writer.call("acct", "x", "deposit", { amount: 1 }); // 4
      await writer.call("acct", "y", "deposit", { amount: 1 }); // 5
      await writer.call("acct", "y", "deposit", { amount: 1 }); // 6
      await writer.stop();

      // Rolled back to v1.
      const lines: string[] = [];
      const olderStore = new SqliteStore({ path });
      const older = new Runtime({ store: olderStore, components: [acctV1, auditV1, strictV1], log: (line) => lines.push(line) });
      await older.start();
      try {
        const expected = ["x:deposited@1", "y:deposited@5", "y:deposited@6"];
        await until("v1 to deliver what it knows", () => seen.audit!.length === 3 && seen.strict!.length === 3, 10_000);
        await new Promise((resolve) => setTimeout(resolve, 500));
        for (const name of ["audit", "strict"]) {
          assert.deepEqual(seen[name]!.slice().sort(), expected, `${name}: x waits at its bonused event, y goes on`);
          assert.deepEqual(await olderStore.listParked(name, 10), [], `${name}: nothing parked`);
        }
        const warnings = lines.filter((line) => line.includes("WARNING: consumer"));
        assert.deepEqual(warnings.map((line) => /^sagaflow: WARNING: consumer (\w+): the message at position 2 \(acct "x" bonused\) waits for code that knows its event type/.exec(line)?.[1]).sort(), ["audit", "strict"], lines.join("\n"));
        const stopping = Date.now();
        await older.stop();
        assert.ok(Date.now() - stopping < 3_000, `a stop does not wait out the wait (${Date.now() - stopping} ms)`);
      } finally {
        await older.stop();
      }
      const stored = new SqliteStore({ path });
      for (const name of ["audit", "strict"]) assert.ok((await stored.loadOffset(name)) < 2, `${name}: the offset did not pass the bonused event`);
      await stored.close();

      // Forward again: v2 delivers the bonused events, and x's later deposit after them, in order.
      for (const name of ["audit", "strict"]) seen[name]!.length = 0;
      const again = new Runtime({ store: new SqliteStore({ path }), components: [acctV2, auditV2, strictV2], log: () => {} });
      await again.start();
      try {
        // (x's first deposit, below the stored offset, is not delivered again.)
        const waiting = (name: string) => seen[name]!.filter((m) => m.startsWith("x:") && !m.endsWith("@1"));
        await until("v2 to deliver x's waiting messages", () => waiting("audit").length === 3 && waiting("strict").length === 3, 10_000);
        for (const name of ["audit", "strict"]) assert.deepEqual(waiting(name), ["x:bonused@2", "x:bonused@3", "x:deposited@4"], name);
      } finally {
        await again.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
