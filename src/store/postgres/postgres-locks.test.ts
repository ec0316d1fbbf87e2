import assert from "node:assert/strict";
import { test } from "node:test";
import { lockInstancesStatement } from "./postgres-locks.ts";

// Nodes of two releases share a schema during a rolling deploy: both must take the same locks for
// an instance, or their commits stop excluding each other. So the keys are pinned, as computed
// by the first release that took them.
test("a small commit takes its buckets shared and each instance's lock, keys as every release computes them", () => {
  const statement = lockInstancesStatement("sagaflow_s1", [{ component: "wallet", id: "a" }, { component: "transfer", id: "t1" }]);
  assert.ok(
    statement.includes(
      "unnest('{0,2,0,2}'::int2[], '{1397113345,NULL,1397113345,NULL}'::int4[], '{2114212734,NULL,2114212768,NULL}'::int4[], '{NULL,731449074370478188,NULL,-542241876813501456}'::int8[])",
    ),
    statement,
  );
});

test("a large commit takes its buckets exclusive and no instance locks", () => {
  const statement = lockInstancesStatement("sagaflow_s1", Array.from({ length: 40 }, (_, i) => ({ component: "wallet", id: `w${i}` })));
  const objects = "2114212709,2114212714,2114212718,2114212719,2114212720,2114212723,2114212724,2114212725,2114212726,2114212728,2114212729,2114212732,2114212733,2114212734,2114212737,2114212739,2114212741,2114212742,2114212743,2114212744,2114212745,2114212746,2114212748,2114212749,2114212750,2114212754,2114212758,2114212762,2114212764,2114212765,2114212770";
  assert.ok(statement.includes(`'{${Array(31).fill(1).join(",")}}'::int2[]`), statement);
  assert.ok(statement.includes(`'{${objects}}'::int4[]`), statement);
});
