import { errors } from "../define/errors.ts";
import type { StandardResult, StandardSchemaV1 } from "../define/standard-schema.ts";

/**
 * Checks input against the handler's schema, if it has one, and returns the validated value: at
 * once when the schema checks synchronously (most do: no promise made on the command path), else
 * as a promise. Callers await it either way; an invalid input throws invalid_input.
 */
export function validateInput(schema: StandardSchemaV1 | undefined, input: unknown, where: string): unknown {
  if (schema === undefined) return input;
  const result = schema["~standard"].validate(input);
  return result instanceof Promise ? result.then((settled) => validated(settled, where)) : validated(result, where);
}

function validated(result: StandardResult<unknown>, where: string): unknown {
  if (result.issues === undefined) return result.value;
  const issues = result.issues.map((issue) => ({
    message: issue.message,
    path: (issue.path ?? []).map((p) => (typeof p === "object" ? p.key : p)).map(String),
  }));
  const first = issues[0];
  const at = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
  throw errors.invalidInput(`invalid input for ${where}${at}: ${first?.message ?? "rejected"}`, { issues });
}
