/**
 * The instance cache drops workflows that will never change again (ended, terminated) before
 * anything still in use: a service whose finished workflows outnumber its cache keeps its
 * entities cached instead of reading them again and again.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { transfer } from "../../examples/bank/transfer.ts";
import { wallet } from "../../examples/bank/wallet.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { Runtime } from "./runtime.ts";
import { wrapStore } from "./test-support.ts";

describe("instance cache and lasting workflows", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-cache-lasting-"));
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(cacheSize: number) {
    const inner = new SqliteStore({ path: join(dir, `c-${runtimes.length}.db`) });
    const loads: string[] = [];
    const store = wrapStore(inner, {
      loadHistory(component, id) {
        loads.push(`${component}/${id}`);
        return inner.loadHistory(component, id);
      },
      loadWorkflow(name, id) {
        loads.push(`${name}/${id}`);
        return inner.loadWorkflow(name, id);
      },
    });
    const rt = new Runtime({ store, components: [wallet, transfer], log: () => {}, cacheSize });
    runtimes.push(rt);
    await rt.start();
    return { rt, loads };
  }

  it("ended-workflows-leave-the-cache-before-an-entity-used-less-recently", async () => {
    const { rt, loads } = await open(4);
    for (const id of ["quiet", "from", "to"]) await rt.call("wallet", id, "create", { initialBalance: 100 });
    loads.length = 0;
    // Each transfer ends in the commit that starts it; with "from" and "to" that makes four
    // instances at once, so each new transfer pushes one out: the oldest ended transfer, not the
    // wallet used least recently ("quiet").
    for (let i = 1; i <= 6; i++) {
      await rt.call("transfer", `t${i}`, "start", { from: "from", to: "to", amount: 1 });
      assert.equal((await rt.workflowResult("transfer", `t${i}`, 1_000)).status, "ended");
    }
    assert.deepEqual(await rt.call("wallet", "quiet", "balance", {}), { balance: 100 });
    assert.deepEqual(await rt.call("wallet", "from", "balance", {}), { balance: 94 });
    assert.deepEqual(loads, [], "no wallet was read again");
    // An ended transfer that was dropped is read from the store when asked for.
    assert.equal((await rt.workflowResult("transfer", "t1")).status, "ended");
    assert.deepEqual(loads, ["transfer/t1"]);
  });
});
