/** The largest of `numbers` (not Math.max(...numbers): a commit may have more feed positions than a call takes arguments). */
export function largest(numbers: readonly number[]): number {
  let max = -Infinity;
  for (const n of numbers) if (n > max) max = n;
  return max;
}
