import { errors } from "../define/errors.ts";
import type { StandardSchemaV1 } from "../define/standard-schema.ts";

/** Checks input against the handler's schema, if it has one, and returns the validated value. */
export async function validateInput(
  schema: StandardSchemaV1 | undefined,
  input: unknown,
  where: string,
): Promise<unknown> {
  if (schema === undefined) return input;
  let result = schema["~standard"].validate(input);
  if (result instanceof Promise) result = await result;
  if (result.issues === undefined) return result.value;
  const issues = result.issues.map((issue) => ({
    message: issue.message,
    path: (issue.path ?? []).map((p) => (typeof p === "object" ? p.key : p)).map(String),
  }));
  const first = issues[0];
  const at = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
  throw errors.invalidInput(`invalid input for ${where}${at}: ${first?.message ?? "rejected"}`, { issues });
}
