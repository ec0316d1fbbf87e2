import { described } from "../define/component.ts";

/**
 * A testkit function given another kind of definition (plain JavaScript, a cast, the wrong
 * import): named when called, rather than a TypeError from inside the testkit.
 */
export function checkDefinitionKind(fn: string, definition: unknown, kind: string, expected: string): void {
  const given = definition as { kind?: unknown; name?: unknown } | null | undefined;
  if (given?.kind === kind) return;
  const got = typeof given?.kind === "string" ? `the ${given.kind} "${String(given.name)}"` : described(definition);
  throw new TypeError(`${fn}() takes ${expected}, got ${got}`);
}
