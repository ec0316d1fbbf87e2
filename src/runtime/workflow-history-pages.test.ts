import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { workflow } from "../define/workflow.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { Runtime } from "./runtime.ts";

/** A workflow's history longer than a page is read on with `historyNext`, to its last transition. */

const looper = workflow("looper", {
  start: (input: { n: number }) => ({ left: input.n }),
  steps: {
    again: async (s, _input, ctx) => (s.left <= 1 ? ctx.end() : ctx.update({ left: s.left - 1 }).transitionTo("again")),
  },
});

describe("a workflow's history in pages", () => {
  it("is-read-to-its-end-page-after-page-not-cut-at-the-first", { timeout: 60_000 }, async () => {
    const runtime = new Runtime({ store: new MemoryStore(), components: [looper], log: () => {} });
    await runtime.start();
    try {
      await runtime.call("looper", "l1", "start", { n: 1_200 });
      assert.equal((await runtime.workflowResult("looper", "l1", 50_000)).status, "ended");
      const first = await runtime.admin.showWorkflow("looper", "l1");
      assert.equal(first.history.length, 1_000);
      assert.equal(first.historyNext, 1_000);
      const second = await runtime.admin.showWorkflow("looper", "l1", first.historyNext);
      assert.equal(second.historyNext, undefined, "the last page");
      const versions = [...first.history, ...second.history].map((t) => t.version);
      assert.deepEqual(versions, Array.from({ length: versions.length }, (_, i) => i + 1));
      assert.equal(second.history.at(-1)!.status, "ended");
      assert.equal(second.workflow.version, versions.length);
    } finally {
      await runtime.stop();
    }
  });
});
