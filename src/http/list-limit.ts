import { SagaflowError } from "../define/errors.ts";

const maxListLimit = 1000;

/** An admin list's `?limit=`: 100 by default, at most 1,000. */
export function listLimit(raw: string | null): number {
  if (raw === null) return 100;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxListLimit) {
    throw new SagaflowError("invalid_limit", `limit must be a whole number from 1 to ${maxListLimit}`);
  }
  return limit;
}

/** A query's whole number ≥ 0 (0 when absent): a cursor such as `after`. */
export function wholeNumber(query: URLSearchParams, key: string): number {
  const raw = query.get(key);
  const value = Number(raw ?? 0);
  if (!Number.isSafeInteger(value) || value < 0) throw new SagaflowError("invalid_input", `${key} must be a whole number ≥ 0, not "${raw}"`);
  return value;
}
