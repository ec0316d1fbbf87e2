/**
 * A testkit function given another kind of definition, as a test in plain JavaScript (or one that
 * imported the wrong name) may do, says what it takes and what it got.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { entity } from "../define/entity.ts";
import { workflow } from "../define/workflow.ts";
import { testEntity, testKeyValue } from "./entity-testkit.ts";
import { testService } from "./service-testkit.ts";
import { testWorkflow } from "./workflow-testkit.ts";

const loose = <F extends (...args: never[]) => unknown>(f: F) => f as unknown as (...args: unknown[]) => unknown;
const counter = entity("counter", { initial: () => 0, events: { added: (n: number) => n + 1 } }, { commands: {} });
const order = workflow("order", { start: () => ({}), steps: { ship: (_s, _i, ctx) => ctx.end() } });

describe("testkit definitions of the wrong kind", () => {
  it("each-testkit-function-names-what-it-takes-and-what-it-got", async () => {
    // Before: "definition.initial is not a function", from inside the testkit.
    assert.throws(() => loose(testEntity)(order), { name: "TypeError", message: 'testEntity() takes an entity (made by entity(…)), got the workflow "order"' });
    assert.throws(() => loose(testEntity)(undefined), { message: "testEntity() takes an entity (made by entity(…)), got undefined" });
    // Before: accepted, and its commands then decided as a key-value entity's.
    assert.throws(() => loose(testKeyValue)(counter), { message: 'testKeyValue() takes a key-value entity (made by keyValue(…)), got the entity "counter"' });
    await assert.rejects(async () => loose(testWorkflow)(counter), { message: 'testWorkflow() takes a workflow (made by workflow(…) or saga(…)), got the entity "counter"' });
    await assert.rejects(async () => loose(testService)(undefined), {
      message: "testService(): its argument must be an array of components ([wallet, transfer, …]), got undefined",
    });
    await assert.rejects(async () => loose(testService)([counter, undefined]), { message: /^testService\(\): components\[1\] is not a component/ });
  });
});
