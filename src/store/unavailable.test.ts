import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import { isStoreUnavailable } from "./unavailable.ts";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("store unavailable", () => {
  it("a database that cannot be reached is unavailable, as node-postgres reports it", async () => {
    const client = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:1/none", connectionTimeoutMillis: 2_000 });
    const error = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof Error, "connecting to port 1 fails");
    assert.equal(isStoreUnavailable(error), true, String(error));
  });

  it("a dropped connection or a server going away is unavailable, also as the cause of another error", () => {
    for (const error of [
      withCode("terminating connection due to administrator command", "57P01"),
      withCode("the database system is starting up", "57P03"),
      withCode("connection failure", "08006"),
      new Error("Connection terminated unexpectedly"),
      new Error("Client has encountered a connection error and is not queryable"),
      new Error("commit failed", { cause: withCode("read ECONNRESET", "ECONNRESET") }),
    ]) {
      assert.equal(isStoreUnavailable(error), true, error.message);
    }
  });

  it("a refused statement or a bug is not", () => {
    for (const error of [
      withCode('duplicate key value violates unique constraint "events_pkey"', "23505"),
      withCode("deadlock detected", "40P01"),
      new TypeError("Cannot read properties of undefined"),
      "Connection terminated",
      undefined,
    ]) {
      assert.equal(isStoreUnavailable(error), false, String(error));
    }
  });
});
