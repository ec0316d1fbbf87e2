/**
 * Orders text as SQLite's BINARY collation does (UTF-8 bytes, that is code points), which is
 * not JavaScript's UTF-16 order: a character above U+FFFF (a surrogate pair) sorts after
 * U+E000–U+FFFF. Every adapter orders names and ids this way (see `WorkflowFilter`).
 *
 * @example
 * ["\u{1F600}", "\uFFFF"].sort(compareText); // ["\uFFFF", "\u{1F600}"]
 */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  return unit >= 0xd800 && unit <= 0xdfff ? unit + 0x10000 : unit;
}
