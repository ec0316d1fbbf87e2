import type { CompareOp, Condition } from "./ast.ts";

/** A condition with no AND, OR or NOT inside: a comparison, IN, IS NULL or LIKE. */
export type Leaf = Exclude<Condition, { kind: "and" | "or" | "not" }>;

/** A condition in negation normal form: NOT only appears folded into leaves. */
export type Normal = { readonly kind: "and" | "or"; readonly operands: readonly Normal[] } | Leaf;

const NEGATED: Record<CompareOp, CompareOp> = {
  "=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">",
};

/**
 * Pushes every NOT down into the leaves (De Morgan; `NOT a < 1` → `a >= 1`;
 * `NOT a IN (…)` → `a NOT IN (…)`) and flattens nested ANDs and ORs.
 *
 * This is what gives NOT its meaning in Sagaflow: a comparison is unknown (never true, and never
 * true under NOT either) when the field is missing, null or of another type than the value — as
 * in SQL's three-valued logic, where `NOT (a = 1)` does not match rows whose `a` is null. Once
 * NOT is gone, each leaf can simply be false in those cases.
 */
export function normalize(condition: Condition, negate = false): Normal {
  switch (condition.kind) {
    case "not":
      return normalize(condition.operand, !negate);
    case "and":
    case "or": {
      const kind = negate ? (condition.kind === "and" ? "or" : "and") : condition.kind;
      const operands = condition.operands
        .map((c) => normalize(c, negate))
        .flatMap((c) => ("operands" in c && c.kind === kind ? c.operands : [c]));
      return { kind, operands };
    }
    case "compare":
      return negate ? { ...condition, op: NEGATED[condition.op] } : condition;
    case "in":
    case "isNull":
    case "like":
      return negate ? { ...condition, negated: !condition.negated } : condition;
  }
}

/** The operands of a top-level AND, or the condition itself as the only one. */
export function conjuncts(condition: Normal | undefined): readonly Normal[] {
  if (condition === undefined) return [];
  return "operands" in condition && condition.kind === "and" ? condition.operands : [condition];
}
