import { SignJWT } from "jose";
import { durationFlag, parseArgs } from "./args.ts";

export const tokenUsage = `  sagaflow token --secret S --issuer I --sub ID [--role R …] [--ttl 1h] [--audience A]
                 prints an HS256 development token (claims iss, sub, roles: [R…], iat, exp)`;

const tokenFlags = { values: ["secret", "issuer", "sub", "role", "ttl", "audience"] };

export interface TokenRequest {
  secret: string;
  issuer: string;
  subject: string;
  roles?: readonly string[];
  /** Lifetime in ms (default 1 hour). */
  ttlMs?: number;
  audience?: string;
  /** Epoch ms (tests). */
  now?: number;
}

/** Signs an HS256 token with `roles` as an array of strings (so role checks see the same shape as in production). */
export async function makeDevToken(request: TokenRequest): Promise<string> {
  if (request.secret === "") throw new Error("--secret must not be empty");
  const now = Math.floor((request.now ?? Date.now()) / 1000);
  const ttl = Math.max(1, Math.floor((request.ttlMs ?? 3_600_000) / 1000));
  const claims: Record<string, unknown> = request.roles && request.roles.length > 0 ? { roles: [...request.roles] } : {};
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuer(request.issuer).setSubject(request.subject).setIssuedAt(now).setExpirationTime(now + ttl);
  if (request.audience !== undefined) jwt = jwt.setAudience(request.audience);
  return jwt.sign(new TextEncoder().encode(request.secret));
}

/** `sagaflow token …`: prints the token alone on stdout, for `$(sagaflow token …)`. */
export async function tokenCommand(argv: string[]): Promise<void> {
  const { positionals, flags, lists } = parseArgs(argv, tokenFlags, "token");
  if (positionals.length > 0) throw new Error(`sagaflow token takes no positional arguments (got ${positionals.join(" ")})`);
  const missing = ["secret", "issuer", "sub"].filter((name) => !flags.has(name));
  if (missing.length > 0) throw new Error(`sagaflow token needs ${missing.map((m) => `--${m}`).join(", ")}\n\nusage:\n${tokenUsage}`);
  const ttl = flags.get("ttl");
  const audience = flags.get("audience");
  const token = await makeDevToken({
    secret: flags.get("secret")!,
    issuer: flags.get("issuer")!,
    subject: flags.get("sub")!,
    roles: lists.get("role") ?? [],
    ...(ttl === undefined ? {} : { ttlMs: durationFlag("--ttl", ttl) }),
    ...(audience === undefined ? {} : { audience }),
  });
  console.log(token);
}
