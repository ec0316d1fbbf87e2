import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errors, isRefusal, isStoreUnavailable, refusalError, RefusalError, RetryLaterError, SagaflowError, StoreUnavailableError } from "./errors.ts";

describe("error classes say what a caller should do", () => {
  it("a handler's refusal is a RefusalError with its 4xx, and a refusal", () => {
    const error = refusalError({ code: "not_found", message: "no such wallet", status: 404 });
    assert.ok(error instanceof RefusalError && error instanceof SagaflowError);
    assert.equal(error.status, 404);
    assert.equal(error.retryable, false);
    assert.equal(isRefusal(error), true);
    assert.equal(refusalError({ code: "insufficient_funds", message: "no" }).status, 400);
  });

  it("overloaded, write_conflict and shutting_down are RetryLaterErrors: 503, retryable, with a Retry-After, not refusals", () => {
    for (const error of [errors.overloaded("the mailbox"), errors.conflict("wallet", "a"), errors.stopped()]) {
      assert.ok(error instanceof RetryLaterError, error.code);
      assert.equal(error.status, 503);
      assert.equal(error.retryable, true);
      assert.ok(error.retryAfterSeconds >= 1);
      assert.equal(isRefusal(error), false);
      assert.equal(isStoreUnavailable(error), false);
    }
  });

  it("the store unavailable is a RetryLaterError with a reason, code store_unavailable", () => {
    const error = new StoreUnavailableError("disk_full", "the disk is full", { retryAfterSeconds: 10 });
    assert.ok(error instanceof RetryLaterError && error instanceof SagaflowError);
    assert.equal(error.code, "store_unavailable");
    assert.equal(error.status, 503);
    assert.equal(error.retryAfterSeconds, 10);
    assert.equal(error.reason, "disk_full");
    assert.deepEqual(error.toJSON(), { code: "store_unavailable", message: "the disk is full", details: { reason: "disk_full" } });
    assert.equal(isStoreUnavailable(error), true);
    assert.equal(isRefusal(error), false);
    assert.equal(isStoreUnavailable(Object.assign(new Error("connection failure"), { code: "08006" })), false, "raw driver errors are the adapter's to translate");
  });
});
