import type { AccessRule, Principal } from "../define/access.ts";
import { SagaflowError } from "../define/errors.ts";

/** What verifies a bearer token (the service's issuers; see src/auth). */
export type Authenticate = (authorization: string | undefined) => Promise<
  { ok: true; principal: Principal } | { ok: false; status: 401; code: string; message: string }
>;

/** A 401: sent with `WWW-Authenticate` (RFC 6750) beside the usual JSON error. */
export class AuthenticationError extends SagaflowError {
  constructor(
    code: string,
    message: string,
    /** The `WWW-Authenticate` header's value. */
    readonly challenge: string,
  ) {
    super(code, message, { status: 401 });
  }
}

const noIssuer: Authenticate = async () => ({
  ok: false,
  status: 401,
  code: "unauthorized",
  message: "this route needs a bearer token, and the service accepts none (no token issuer is configured)",
});

/**
 * Applies `rule` to a request, before its body is read or anything runs: a public rule passes
 * without looking at credentials (`undefined`); otherwise the bearer token must verify (401
 * with `WWW-Authenticate: Bearer`) and the rule must allow the caller (403). Returns the caller.
 */
export async function authorize(
  rule: AccessRule,
  authorization: string | undefined,
  params: Readonly<Record<string, string>>,
  authenticate: Authenticate | undefined,
): Promise<Principal | undefined> {
  if (rule.public) return undefined;
  const result = await (authenticate ?? noIssuer)(authorization);
  if (!result.ok) {
    // No credentials: a bare challenge; bad ones: say the token was refused (RFC 6750, 3.1).
    const challenge = authorization === undefined ? "Bearer" : 'Bearer error="invalid_token"';
    throw new AuthenticationError(result.code, result.message, challenge);
  }
  if (!rule.allows({ principal: result.principal, params })) {
    throw new SagaflowError("forbidden", "the token is valid, but it does not allow this request", { status: 403 });
  }
  return result.principal;
}
