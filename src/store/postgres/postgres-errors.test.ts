import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import { StoreUnavailableError } from "../../define/errors.ts";
import { toStoreError, unavailableReason } from "./postgres-errors.ts";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("PostgreSQL errors as the store being unavailable", () => {
  it("a database that cannot be reached is unreachable, as node-postgres reports it", async () => {
    const client = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:1/none", connectionTimeoutMillis: 2_000 });
    const error = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof Error, "connecting to port 1 fails");
    const translated = toStoreError(error);
    assert.ok(translated instanceof StoreUnavailableError, String(error));
    assert.equal(translated.reason, "unreachable");
    assert.equal(translated.code, "store_unavailable");
    assert.equal(translated.status, 503);
    assert.equal(translated.cause, error);
  });

  it("a dropped connection or a server going away is unreachable, also as the cause of another error", () => {
    for (const error of [
      withCode("terminating connection due to administrator command", "57P01"),
      withCode("the database system is starting up", "57P03"),
      withCode("connection failure", "08006"),
      withCode("terminating connection due to idle-in-transaction timeout", "25P03"),
      new Error("Connection terminated unexpectedly"),
      new Error("Client has encountered a connection error and is not queryable"),
      new Error("commit failed", { cause: withCode("read ECONNRESET", "ECONNRESET") }),
    ]) {
      assert.equal(unavailableReason(error), "unreachable", error.message);
    }
  });

  it("lock and statement timeouts and a full disk have their own reasons", () => {
    assert.equal(unavailableReason(withCode("canceling statement due to lock timeout", "55P03")), "lock_timeout");
    assert.equal(unavailableReason(withCode("canceling statement due to statement timeout", "57014")), "statement_timeout");
    assert.equal(unavailableReason(withCode("could not extend file: No space left on device", "53100")), "disk_full");
  });

  it("a refused statement or a bug is not, and is left as it is", () => {
    for (const error of [
      withCode('duplicate key value violates unique constraint "events_pkey"', "23505"),
      withCode("deadlock detected", "40P01"),
      new TypeError("Cannot read properties of undefined"),
      "Connection terminated",
      undefined,
    ]) {
      assert.equal(unavailableReason(error), undefined, String(error));
      assert.equal(toStoreError(error), error);
    }
  });
});
