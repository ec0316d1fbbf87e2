import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAuthenticator } from "../src/auth/authenticator.ts";
import { cli } from "./support/cli.ts";

/** Issue 12, point 7: `sagaflow token` prints an HS256 token the authenticator accepts. */
describe("sagaflow token", () => {
  it("round trip: the printed token verifies, with repeated --role as an array and --ttl as its lifetime", async () => {
    const run = await cli(["token", "--secret", "dev-secret", "--issuer", "bank-example", "--sub", "alice", "--role", "admin", "--role=teller", "--ttl", "10m"]);
    assert.equal(run.code, 0, run.stderr);
    const token = run.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const auth = createAuthenticator({ issuers: [{ issuer: "bank-example", algorithms: ["HS256"], secret: "dev-secret" }] }, { log: () => {} });
    const result = await auth.authenticate(`Bearer ${token}`);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.principal.subject, "alice");
    assert.deepEqual(result.principal.claims["roles"], ["admin", "teller"]);
    assert.equal(Number(result.principal.claims["exp"]) - Number(result.principal.claims["iat"]), 600);
    const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { alg: string };
    assert.equal(header.alg, "HS256");
    // Another secret does not verify it.
    const other = createAuthenticator({ issuers: [{ issuer: "bank-example", algorithms: ["HS256"], secret: "other" }] }, { log: () => {} });
    assert.equal((await other.authenticate(`Bearer ${token}`)).ok, false);
  });

  it("without a role there is no roles claim; a missing flag or a bad ttl is an error naming it", async () => {
    const run = await cli(["token", "--secret", "s", "--issuer", "i", "--sub", "bob"]);
    assert.equal(run.code, 0, run.stderr);
    const payload = JSON.parse(Buffer.from(run.stdout.trim().split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    assert.equal(payload["roles"], undefined);
    assert.equal(Number(payload["exp"]) - Number(payload["iat"]), 3600, "default ttl 1h");
    const missing = await cli(["token", "--issuer", "i", "--sub", "bob"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /needs --secret/);
    const badTtl = await cli(["token", "--secret", "s", "--issuer", "i", "--sub", "bob", "--ttl", "forever"]);
    assert.equal(badTtl.code, 1);
    assert.match(badTtl.stderr, /--ttl must be a duration/);
    const help = await cli(["token", "--help"]);
    assert.match(help.stdout, /sagaflow token --secret S --issuer I --sub ID \[--role R …\] \[--ttl 1h\]/);
  });
});
