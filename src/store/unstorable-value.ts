/**
 * A value of a write that JSON cannot hold (a BigInt, a cycle): a handler's bug. A store finds it
 * while encoding, before anything of its `commit` call is kept, and refuses the whole call; the
 * group committer then commits the call's other writes without it (../runtime/group-commit.ts).
 */
export class UnstorableValueError extends TypeError {
  override name = "UnstorableValueError";
}

/** `value` as JSON text (undefined for `undefined`); throws UnstorableValueError on what JSON cannot hold. */
export function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new UnstorableValueError(`a value to store is not JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
