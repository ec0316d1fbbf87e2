/** Largest token read, in bytes: a bigger one is refused before any decoding (8 KiB). */
export const MAX_TOKEN_BYTES = 8 * 1024;

/** The token of an `Authorization: Bearer <token>` header, or why there is none. */
export type BearerResult = { ok: true; token: string } | { ok: false; code: string; message: string };

// RFC 6750 b64token; a JWT only uses the base64url subset plus the dots.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Reads the bearer token of an Authorization header. Only the header is read: a token in the
 * query string is never looked at. The size is checked before anything else.
 */
export function bearerToken(header: string | undefined): BearerResult {
  if (header === undefined || header.trim() === "") {
    return { ok: false, code: "missing_token", message: "this route needs an `Authorization: Bearer <token>` header" };
  }
  if (header.length > MAX_TOKEN_BYTES + 64) {
    return { ok: false, code: "token_too_large", message: `the token is larger than ${MAX_TOKEN_BYTES} bytes` };
  }
  const match = /^([A-Za-z]+)(?:[ \t]+(.*))?$/s.exec(header.trim());
  if (!match || match[1]!.toLowerCase() !== "bearer") {
    return { ok: false, code: "unsupported_scheme", message: "the Authorization header must use the Bearer scheme" };
  }
  const token = (match[2] ?? "").trim();
  if (token === "") return { ok: false, code: "missing_token", message: "the Bearer header carries no token" };
  if (token.length > MAX_TOKEN_BYTES) {
    return { ok: false, code: "token_too_large", message: `the token is larger than ${MAX_TOKEN_BYTES} bytes` };
  }
  if (!B64TOKEN.test(token)) return { ok: false, code: "malformed_token", message: "the token is not a JWT (header.payload.signature)" };
  return { ok: true, token };
}
