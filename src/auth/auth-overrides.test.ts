import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { env } from "../define/auth.ts";
import { applyAuthOverrides } from "./auth-overrides.ts";

describe("sagaflow serve --jwt-… flags over the service's auth configuration", () => {
  const bank = { issuers: [{ issuer: "bank-example", algorithms: ["HS256" as const], secret: env("BANK_JWT_SECRET") }] };

  it("no flag: the configuration unchanged", () => {
    assert.equal(applyAuthOverrides(bank, {}), bank);
    assert.equal(applyAuthOverrides(undefined, { audience: [] }), undefined);
  });

  it("changes the named issuer, or the only one", () => {
    const named = applyAuthOverrides(bank, { issuer: "bank-example", secret: "from-flag", audience: ["bank-api"] });
    assert.deepEqual(named?.issuers, [{ issuer: "bank-example", algorithms: ["HS256"], secret: "from-flag", audience: ["bank-api"] }]);
    const only = applyAuthOverrides(bank, { secret: "s2" });
    assert.equal(only?.issuers[0]?.secret, "s2");
  });

  it("adds an issuer the service does not have, with algorithms from what keys it has", () => {
    const added = applyAuthOverrides(bank, { issuer: "https://idp.example", jwksUrl: "https://idp.example/jwks" });
    assert.equal(added?.issuers.length, 2);
    assert.deepEqual(added?.issuers[1], { issuer: "https://idp.example", algorithms: ["RS256", "PS256", "ES256", "EdDSA"], jwksUrl: "https://idp.example/jwks" });
    const hs = applyAuthOverrides(undefined, { issuer: "dev", secret: "s", algorithms: ["HS256,HS512"] });
    assert.deepEqual(hs?.issuers[0]?.algorithms, ["HS256", "HS512"]);
  });

  it("mistakes are errors that say what to do", () => {
    assert.throws(() => applyAuthOverrides(undefined, { secret: "s" }), /need --jwt-issuer/);
    assert.throws(() => applyAuthOverrides({ issuers: [...bank.issuers, { issuer: "b", algorithms: ["HS256"], secret: "x" }] }, { secret: "s" }), /say which with --jwt-issuer/);
    assert.throws(() => applyAuthOverrides(undefined, { issuer: "x", secret: "s", algorithms: ["none"] }), /--jwt-algorithm none is not one of/);
    assert.throws(() => applyAuthOverrides(undefined, { issuer: "x", audience: ["a"] }), /needs --jwt-secret, --jwks-url or --jwt-algorithm/);
  });
});
