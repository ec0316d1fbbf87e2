import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { keyValue } from "../define/key-value.ts";
import { testService } from "../testkit/index.ts";

/** A handler that throws: in process (a test above all) the internal error carries the handler's own error as its cause. */

const crashy = keyValue("crashy", {
  initial: () => 0,
  commands: {
    crash: (_n: number, _c: {}, _fx): never => {
      throw new Error("the handler broke here");
    },
  },
});

describe("an internal error in process", () => {
  it("carries-the-handlers-own-error-as-its-cause", async () => {
    const t = await testService([crashy]);
    try {
      await assert.rejects(t.client.call(crashy, "c").crash({}), (error: Error & { code?: string }) => {
        assert.equal(error.code, "internal");
        assert.match(error.message, /internal error in crashy\.crash \(correlation id /);
        assert.equal((error.cause as Error | undefined)?.message, "the handler broke here");
        return true;
      });
    } finally {
      await t.stop();
    }
  });
});
