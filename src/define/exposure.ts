import { checkRuleParams, isAccessRule, type AccessRule } from "./access.ts";

/**
 * The name under which a workflow's `GET /{workflow}/{id}` (its status and state) is exposed in
 * a per-handler `expose`; handler names cannot start with "$", so it never names a handler.
 */
export const workflowResultRoute = "$result";

/**
 * What a component shows over HTTP. Nothing is exposed unless its definition says so (deny by
 * default): `expose: access.anyone` exposes every command and query (and a workflow's result)
 * under one rule; `expose: { register: rule, get: rule }` exposes only those, each with its rule.
 * `Names` are the component's handler names, so a typo does not compile.
 */
export type Exposure<Names extends string> = AccessRule | { readonly [K in Names]?: AccessRule };

/** Handler names declared in a record (an index signature counts as none). */
type Declared<T> = string extends keyof T ? never : keyof T & string;

/** The names an entity's or key-value entity's `expose` may list. */
export type HandlerNames<CM, QM> = Declared<CM> | Declared<QM>;

/**
 * Checks an `expose` option when a component is defined: a rule, or a record whose keys are
 * among `names` and whose values are rules. Plain JavaScript gets the check TypeScript gives.
 */
export function checkExposure(component: string, expose: unknown, names: readonly string[], routeParams: readonly string[] = ["id"]): void {
  if (expose === undefined) return;
  if (isAccessRule(expose)) {
    checkRuleParams(expose, routeParams, `component "${component}": expose`);
    return;
  }
  if (typeof expose !== "object" || expose === null || Array.isArray(expose)) {
    throw new TypeError(`component "${component}": expose must be an access rule (access.anyone, …) or { handler: rule }`);
  }
  for (const [name, value] of Object.entries(expose)) {
    if (!names.includes(name)) {
      throw new TypeError(`component "${component}": expose names "${name}", which is not one of its handlers (${names.join(", ")})`);
    }
    if (!isAccessRule(value)) throw new TypeError(`component "${component}": expose.${name} must be an access rule (access.anyone, access.authenticated, …)`);
    checkRuleParams(value, routeParams, `component "${component}": expose.${name}`);
  }
}

/**
 * The rule of each exposed route name of a component (handlers, and `$result` for workflows),
 * or undefined when nothing is exposed. `names` are every name the component has.
 */
export function exposedRules(expose: unknown, names: readonly string[]): Map<string, AccessRule> | undefined {
  if (expose === undefined) return undefined;
  const rules = new Map<string, AccessRule>();
  if (isAccessRule(expose)) {
    for (const name of names) rules.set(name, expose);
  } else {
    for (const [name, rule] of Object.entries(expose as Record<string, AccessRule | undefined>)) {
      if (rule !== undefined && names.includes(name)) rules.set(name, rule);
    }
  }
  return rules.size === 0 ? undefined : rules;
}
