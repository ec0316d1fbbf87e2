import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { workflow } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { Runtime } from "../runtime.ts";
import { isCode, wrapStore } from "../test-support.ts";

const greet = workflow("greet", {
  start: (input: { name: string }) => ({ name: input.name, greeted: false }),
  steps: { hello: async (s, _input, ctx) => ctx.update({ ...s, greeted: true }).end() },
});

/** `GET /{workflow}/{id}?wait=`: a result this node committed is answered from memory. */
describe("a workflow's result", () => {
  it("asked-after-the-end-this-node-committed-reads-nothing-from-the-store;-an-unknown-one-still-does", async () => {
    const inner = new MemoryStore();
    const loads: string[] = [];
    const store = wrapStore(inner, {
      loadWorkflow: (name, id) => {
        loads.push(`${name}/${id}`);
        return inner.loadWorkflow(name, id);
      },
    });
    const rt = new Runtime({ store, components: [greet], log: () => {} });
    await rt.start();
    try {
      await rt.call("greet", "g1", "start", { name: "Ada" });
      assert.equal((await rt.workflowResult("greet", "g1", 5_000)).status, "ended");
      loads.length = 0;
      const view = await rt.workflowResult("greet", "g1", 5_000);
      assert.deepEqual(view, { id: "g1", status: "ended", step: "hello", state: { name: "Ada", greeted: true } });
      assert.deepEqual(loads, [], "answered from what this node committed");
      await assert.rejects(rt.workflowResult("greet", "never", 0), isCode("not_found", 404));
      assert.deepEqual(loads, ["greet/never"], "one not cached is read from the store");
    } finally {
      await rt.stop();
    }
  });
});
