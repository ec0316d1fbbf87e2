import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { deferred, entity, schedule } from "../src/index.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { wrapStore } from "../src/runtime/test-support.ts";
import type { Store } from "../src/store/port.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";
import { sleep } from "./support/server-process.ts";

/**
 * A cron schedule on two nodes sharing one PostgreSQL schema (issue 16): only the node holding
 * lease `schedules` fires (the other never stores a tick), every tick fires once (the entity that
 * records them, which does no de-duplication, holds each tick once), and when the holder stops the
 * other node takes over and goes on firing, still once per tick.
 */

const url = postgresUrlOrSay("PostgreSQL schedules test");

const ticks = entity(
  "ticks",
  { initial: () => ({ at: [] as number[] }), events: { recorded: (s, e: { at: number }) => ({ at: [...s.at, e.at] }) } },
  {
    commands: { record: (_s, c: { at: number }, fx) => fx.emit("recorded", { at: c.at }).reply({}) },
    queries: { list: (s, _: {}, fx) => fx.reply(s.at) },
  },
);
const everySecond = schedule("every-second", { cron: "* * * * * *", call: (t) => deferred(ticks, "all").record({ at: t.at }) });

if (url) {
  describe("cron schedules on two nodes (PostgreSQL)", () => {
    const schemas = new SchemaPool(url);
    const runtimes: Runtime[] = [];
    after(async () => {
      for (const runtime of runtimes) await runtime.stop().catch(() => {});
      await schemas.dropAll();
    });

    it("fires each tick once, from the lease holder only, and moves when it stops", { timeout: 60_000 }, async () => {
      await assertPostgresReachable(url);
      const schema = schemas.fresh("schedules");
      const tickWrites = [0, 0];
      const node = async (index: number) => {
        const inner = new PostgresStore({ connectionString: url, schema, poolSize: 4 });
        const store: Store = wrapStore(inner, {
          commitConsumer: (name, ...rest) => {
            if (name === "schedule:every-second") tickWrites[index]!++;
            return inner.commitConsumer(name, ...rest);
          },
        });
        const runtime = new Runtime({ store, components: [ticks, everySecond], nodeName: `n${index}`, leaseMs: 1_000, log: () => {} });
        runtimes.push(runtime);
        await runtime.start();
        return runtime;
      };
      const a = await node(0);
      const b = await node(1);
      const list = async (runtime: Runtime) => (await runtime.call("ticks", "all", "list", {})) as number[];
      // When the second node joins, the first may hand it the schedules' lease (nodes even out
      // their shares): count only once the shares have settled.
      await sleep(3_000);
      tickWrites[0] = 0;
      tickWrites[1] = 0;
      await sleep(5_000);
      const holder = tickWrites[0] > 0 ? 0 : 1;
      assert.ok(tickWrites[holder]! > 0, "one node fires");
      assert.equal(tickWrites[1 - holder], 0, "the other never does");
      const before = await list(a);
      assert.ok(before.length >= 2, `ticks fired: ${before.length}`);

      const [stopping, staying] = holder === 0 ? [a, b] : [b, a];
      await stopping.stop();
      const writesAtHandOver = tickWrites[1 - holder]!;
      await sleep(5_000);
      assert.ok(tickWrites[1 - holder]! > writesAtHandOver, "the other node took over");
      const after = await list(staying);
      assert.ok(after.length > before.length, "ticks go on after the hand-over");
      assert.equal(new Set(after).size, after.length, `each tick once: ${after.join(", ")}`);
      assert.deepEqual([...after].sort((x, y) => x - y), after, "in tick order");
    });
  });
}
