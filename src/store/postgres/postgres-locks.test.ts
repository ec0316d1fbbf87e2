import assert from "node:assert/strict";
import { test } from "node:test";
import { lockInstancesSql, lockInstancesStatement } from "./postgres-locks.ts";

/** The arguments of the statement's EXECUTE, each array as its elements' text (NULL as null), whatever quoting the literals use. */
function lockArguments(statement: string): Array<Array<string | null>> {
  const match = /^EXECUTE sagaflow_sql_lock_instances\((.*)\)$/.exec(statement);
  assert.ok(match, statement);
  return [...match[1]!.matchAll(/'\{([^}]*)\}'/g)].map(([, items]) =>
    items!.split(",").map((item) => (item === "NULL" ? null : item.replaceAll('"', ""))),
  );
}

// Nodes of two releases share a schema during a rolling deploy: both must take the same locks for
// an instance, or their commits stop excluding each other. So the keys are pinned, as computed
// by the first release that took them.
test("a small commit takes its buckets shared and each instance's lock, keys as every release computes them", () => {
  const statement = lockInstancesStatement("sagaflow_s1", [{ component: "wallet", id: "a" }, { component: "transfer", id: "t1" }]);
  assert.deepEqual(lockArguments(statement), [
    ["0", "2", "0", "2"],
    ["1397113345", null, "1397113345", null],
    ["2114212734", null, "2114212768", null],
    [null, "731449074370478188", null, "-542241876813501456"],
  ]);
  // Taken in that order, as modes, classes, objects and keys of those types.
  assert.match(lockInstancesSql.text, /FROM unnest\(\$1::int2\[\], \$2::int4\[\], \$3::int4\[\], \$4::int8\[\]\) AS u\(m, c, o, k\)/);
});

test("a large commit takes its buckets exclusive and no instance locks", () => {
  const statement = lockInstancesStatement("sagaflow_s1", Array.from({ length: 40 }, (_, i) => ({ component: "wallet", id: `w${i}` })));
  const objects = "2114212709,2114212714,2114212718,2114212719,2114212720,2114212723,2114212724,2114212725,2114212726,2114212728,2114212729,2114212732,2114212733,2114212734,2114212737,2114212739,2114212741,2114212742,2114212743,2114212744,2114212745,2114212746,2114212748,2114212749,2114212750,2114212754,2114212758,2114212762,2114212764,2114212765,2114212770";
  const [modes, classes, objectsGiven, keys] = lockArguments(statement);
  assert.deepEqual(modes, Array(31).fill("1"));
  assert.deepEqual(classes, Array(31).fill("1397113345"));
  assert.deepEqual(objectsGiven, objects.split(","));
  assert.deepEqual(keys, Array(31).fill(null));
});
