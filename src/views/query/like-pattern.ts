/**
 * LIKE patterns: only `'prefix%'` is supported, because a prefix match runs as an index range
 * scan on every database. `\` escapes the next character, so `'user\_%'` matches strings starting
 * with `user_`. Matching is case-sensitive (as in PostgreSQL, unlike SQLite's own LIKE).
 */

/** The prefix of a `'prefix%'` pattern, or why the pattern is refused. */
export function likePrefix(pattern: string): { prefix: string } | { error: string } {
  let prefix = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      const next = pattern[i + 1];
      if (next === undefined) return { error: "LIKE pattern ends with a lone '\\'" };
      prefix += next;
      i++;
    } else if (c === "%") {
      if (i === pattern.length - 1) return { prefix };
      return { error: "only prefix patterns like 'abc%' are supported: '%' may appear only at the end" };
    } else if (c === "_") {
      return { error: "'_' (any one character) is not supported in LIKE patterns; write '\\_' to match '_' itself" };
    } else {
      prefix += c;
    }
  }
  return { error: "a LIKE pattern must end with '%' (use = to match a whole value)" };
}

const MAX_CODE_POINT = 0x10ffff;
const SURROGATES_START = 0xd800;
const SURROGATES_END = 0xdfff;

/**
 * The smallest string greater than every string that starts with `prefix`, in code point order
 * (which is SQLite's binary UTF-8 order), or undefined when there is none (the empty prefix, or
 * one made of U+10FFFF only). `s` starts with `prefix` exactly when `prefix <= s < upper`.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix, (c) => c.codePointAt(0)!);
  while (points.length > 0) {
    const last = points.pop()!;
    if (last < MAX_CODE_POINT) {
      const next = last + 1 === SURROGATES_START ? SURROGATES_END + 1 : last + 1;
      return String.fromCodePoint(...points, next);
    }
  }
  return undefined;
}
