import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { filtersToApiQuery, filtersToQuery, localTimeToEpoch, queryToFilters } from "./query.ts";

describe("console filters and query strings", () => {
  it("writes-filters-leaving-out-empty-ones-and-reads-them-back", () => {
    const filters = { name: "transfer", status: ["failed", "running"], step: "", idPrefix: "t-", outcome: "compensated" };
    const text = filtersToQuery(filters);
    assert.equal(text, "?name=transfer&status=failed%2Crunning&idPrefix=t-&outcome=compensated");
    assert.deepEqual(queryToFilters(text), { name: "transfer", status: ["failed", "running"], idPrefix: "t-", outcome: "compensated" });
    assert.equal(filtersToQuery({}), "");
  });
  it("drops-unknown-statuses-and-turns-local-times-into-epoch-ms-for-the-api", () => {
    assert.deepEqual(queryToFilters("?status=failed,bogus&limit=x"), { status: ["failed"] });
    const at = new Date("2024-05-01T10:30").getTime();
    assert.equal(localTimeToEpoch("2024-05-01T10:30"), at);
    assert.equal(localTimeToEpoch("not a date"), undefined);
    assert.equal(filtersToApiQuery({ name: "x", createdAfter: "2024-05-01T10:30" }, 50), `?name=x&createdAfter=${at}&limit=50`);
  });
});
