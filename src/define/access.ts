/**
 * Access rules: who may call an exposed route (a component's command, query, workflow result or
 * view query, or an endpoint's route). Checked by the HTTP layer before the body is read or any
 * handler, validator or store read runs. In-process calls (steps, consumers, timers, endpoints'
 * client, the testkit's client) never see them.
 */

import type { Principal } from "./auth.ts";

export type { Principal };

/** What a rule sees: the verified caller and the route's path parameters (`id` for a component route). */
export interface AccessRequest {
  readonly principal: Principal;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * A rule. `public` rules let anyone in without looking at credentials; the others need a valid
 * token (401 without one) and then `allows` (403 when it says no).
 */
export interface AccessRule {
  readonly public: boolean;
  /** Whether an authenticated caller may pass (never called for a public rule). */
  allows(request: AccessRequest): boolean;
  /** Shown in start-up logs and errors. */
  readonly description: string;
  /** Path parameters without which the rule refuses every caller: a route lacking one is refused when defined. */
  readonly params?: readonly string[];
}

const rule = (description: string, allows: (request: AccessRequest) => boolean): AccessRule => ({
  public: false,
  allows,
  description,
});

/** A claim that is an array of strings (anything else holds no roles: a string is not a list). */
function stringsOf(value: unknown): string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : [];
}

/**
 * Ready-made rules, combinable with `anyOf`.
 *
 * @example
 * const ownerOrAdmin = access.anyOf(access.subjectIs("id"), access.role("admin"));
 * keyValue("customer", { …, expose: { register: ownerOrAdmin, get: ownerOrAdmin } });
 */
export const access = {
  /** Anyone, with or without a token (the token is not even read). */
  anyone: { public: true, allows: () => true, description: "anyone" } as AccessRule,
  /** Any caller with a valid token. */
  authenticated: rule("authenticated", () => true),
  /** Callers whose `roles` claim (or the claim named) is an array of strings containing `role`. */
  role: (role: string, claim = "roles"): AccessRule =>
    rule(`role ${role}`, ({ principal }) => stringsOf(principal.claims[claim]).includes(role)),
  /** Callers whose `sub` equals the path parameter `param` (`id` on a component route). */
  subjectIs: (param: string): AccessRule => ({
    ...rule(`sub = :${param}`, ({ principal, params }) => {
      const value = params[param];
      return principal.subject !== undefined && value !== undefined && principal.subject === value;
    }),
    params: [param],
  }),
  /** Callers for whom `predicate` holds (it sees the verified claims and the path parameters). */
  claims: (predicate: (claims: Readonly<Record<string, unknown>>, params: Readonly<Record<string, string>>) => boolean, description = "claims predicate"): AccessRule =>
    rule(description, ({ principal, params }) => predicate(principal.claims, params) === true),
  /** Passes when any of `rules` passes; public when one of them is. */
  anyOf: (...rules: AccessRule[]): AccessRule => {
    if (rules.some((r) => r.public)) return access.anyone;
    // It refuses everyone only where every branch does: the parameters all of them read.
    const params = rules.map((r) => r.params ?? []).reduce((common, next) => common.filter((p) => next.includes(p)));
    return { ...rule(rules.map((r) => r.description).join(" or "), (request) => rules.some((r) => r.allows(request))), params };
  },
} as const;

/**
 * Throws if `rule` reads a path parameter the route lacks (`subjectIs("id")` on `/me`): such a
 * rule refuses every caller, which is a mistake to catch when the route is defined.
 */
export function checkRuleParams(rule: AccessRule, routeParams: readonly string[], where: string): void {
  const missing = (rule.params ?? []).filter((p) => !routeParams.includes(p));
  if (missing.length === 0) return;
  const has = routeParams.length === 0 ? "none" : routeParams.map((p) => `:${p}`).join(", ");
  throw new TypeError(`${where}: its access rule (${rule.description}) reads the path parameter :${missing[0]}, which the route does not have (it has ${has}), so it would refuse every caller`);
}

/** Whether `value` is a rule made by `access` (or shaped like one). */
export function isAccessRule(value: unknown): value is AccessRule {
  return typeof value === "object" && value !== null && typeof (value as AccessRule).allows === "function" && typeof (value as AccessRule).public === "boolean";
}
