/** A workflow's outcome: the `status` its state names (a saga's completed, compensated, requires_manual_intervention …), if any. */
export function outcomeOf(state: unknown): string | undefined {
  const status = typeof state === "object" && state !== null ? (state as { status?: unknown }).status : undefined;
  return typeof status === "string" ? status : undefined;
}
