import { wantsPage } from "./console-assets.ts";
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import type { Authenticator } from "../auth/authenticator.ts";
import { bearerToken } from "../auth/bearer.ts";
import { repeatedAuthorization, sendForbidden, sendUnauthorized } from "./auth-refusal.ts";
import { sendJson } from "./respond.ts";

/** Who may use the admin API besides anyone on loopback. */
export interface AdminAccess {
  /** A shared token: `Authorization: Bearer <token>` (`--admin-token` / SAGAFLOW_ADMIN_TOKEN). */
  readonly token?: string;
  /** A JWT of one of the service's issuers whose `roles` claim contains this role (`--admin-role`). */
  readonly role?: string;
  readonly authenticator?: Authenticator;
}

/** Shortest admin token accepted: a guessable one would protect nothing. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost" || bare === "::1") return true;
  const v4 = bare.startsWith("::ffff:") ? bare.slice(7) : bare;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

const jwtAccess = (access: AdminAccess) => access.role !== undefined && access.authenticator !== undefined && access.authenticator.config.issuers.length > 0;

/**
 * Refuses (throws) to serve the admin API on a non-loopback address without a way to check its
 * callers: an admin token, or an admin role with a configured issuer. Also refuses a short token.
 */
export function checkAdminBind(host: string, access: AdminAccess): void {
  if (access.token !== undefined && access.token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new Error(`the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (--admin-token / SAGAFLOW_ADMIN_TOKEN)`);
  }
  if (access.role !== undefined && !jwtAccess(access)) {
    throw new Error(`--admin-role ${access.role} needs a JWT issuer (the service's auth configuration or --jwt-issuer)`);
  }
  if (isLoopback(host) || access.token !== undefined || jwtAccess(access)) return;
  throw new Error(
    `the admin API would listen on ${host} without access control: give it a token (--admin-token or SAGAFLOW_ADMIN_TOKEN) or an admin role (--admin-role), or keep it on 127.0.0.1`,
  );
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * Marks an answer as the admin API's (`sagaflow-api: admin`), refusals included: the CLI tells by
 * it that `--admin` points at the admin port, not at the service's or at another server.
 */
export function markAdminAnswer(res: ServerResponse): void {
  res.setHeader("sagaflow-api", "admin");
}

/**
 * Wraps the admin handler with a check of the caller, when a token or a role is configured
 * (wherever it listens); without either, it listens on loopback only (see {@link checkAdminBind}).
 * No credentials or bad ones: 401 with `WWW-Authenticate: Bearer`; a valid JWT without the role:
 * 403; two Authorization headers, open or not: 400. Open, it refuses what a web page could send it
 * (see refuseOtherSites); with credentials, a page has none to send (a browser never adds a bearer
 * token by itself), and a proxy in front may forward another Host than the page's origin.
 */
export function guardAdmin(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  access: AdminAccess,
): (req: IncomingMessage, res: ServerResponse) => void {
  const open = access.token === undefined && !jwtAccess(access);
  const guarded = open ? refuseOtherSites(handler) : checkCaller(handler, access);
  return (req, res) => {
    markAdminAnswer(res);
    const repeated = repeatedAuthorization(req);
    if (repeated) sendJson(res, repeated.status, { error: repeated.toJSON() }, { "cache-control": "no-store" });
    else guarded(req, res);
  };
}

/**
 * A browser is the one caller that brings no token and yet can reach loopback: any page it shows
 * may send a form to 127.0.0.1 (cross-site request forgery), or read from it under a name of its
 * own that resolves there (DNS rebinding). So an admin API without credentials refuses a request
 * from another site's page (its `Origin` is not the address it was sent to) and answers only
 * requests addressed to a loopback name. Callers that are not browsers send no `Origin`.
 */
function refuseOtherSites(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const host = req.headers.host ?? "";
    const origin = req.headers.origin;
    if (origin !== undefined && originHost(origin) !== host.toLowerCase()) {
      sendForbidden(res, `the admin API does not take requests from another site's page (Origin ${origin.slice(0, 100)})`);
      return;
    }
    if (host !== "" && !isLoopback(hostName(host))) {
      sendForbidden(
        res,
        `the admin API has no token, so it answers only requests addressed to 127.0.0.1 or localhost, not to "${host.slice(0, 100)}": give it one (--admin-token) to reach it under another name`,
      );
      return;
    }
    handler(req, res);
  };
}

/** `host:port` of an Origin header, lower-case; undefined for `null` or anything unparsable. */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** The name in a Host header, without its port (`[::1]:3001` → `[::1]`). */
function hostName(host: string): string {
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
}

/** The token or role check of {@link guardAdmin}. */
function checkCaller(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  access: AdminAccess,
): (req: IncomingMessage, res: ServerResponse) => void {
  const expected = access.token === undefined ? undefined : digest(access.token);
  const refuse = (res: ServerResponse, status: 401 | 403, code: string, message: string) =>
    status === 401 ? sendUnauthorized(res, { code, message }, "sagaflow-admin") : sendForbidden(res, message, code);
  return (req, res) => {
    // The console's page and files hold no data (a browser cannot send a bearer header when it
    // navigates); every admin API call the page makes carries the token.
    if (wantsPage(req, new URL(req.url ?? "/", "http://localhost").pathname)) {
      handler(req, res);
      return;
    }
    const header = req.headers.authorization;
    const bearer = bearerToken(header);
    if (!bearer.ok) {
      refuse(res, 401, bearer.code, `the admin API needs \`Authorization: Bearer <admin token>\`${access.role ? ` or a JWT with role ${access.role}` : ""}`);
      return;
    }
    // Compared as digests: constant time, whatever the lengths.
    if (expected && timingSafeEqual(digest(bearer.token), expected)) {
      handler(req, res);
      return;
    }
    if (!jwtAccess(access)) {
      refuse(res, 401, "invalid_token", "the admin token is not the right one");
      return;
    }
    access.authenticator!.authenticate(header).then(
      (result) => {
        if (!result.ok) return refuse(res, 401, result.code, result.message);
        // A service's issuers may allow tokens that never expire; one that opens the admin API must.
        if (typeof result.principal.claims["exp"] !== "number") return refuse(res, 401, "missing_claim", "a token for the admin API must expire: it has no exp claim");
        const roles = result.principal.claims["roles"];
        if (!Array.isArray(roles) || !roles.includes(access.role)) return refuse(res, 403, "forbidden", `the admin API needs role ${access.role}`);
        handler(req, res);
      },
      () => refuse(res, 401, "invalid_token", "the token could not be checked"),
    );
  };
}
