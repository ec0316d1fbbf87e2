import { QueryError } from "./errors.ts";

export type TokenKind = "word" | "number" | "string" | "param" | "symbol" | "end";

/**
 * One token. `text` is the word as written (keywords are matched case-insensitively by the
 * parser), the parameter name without its colon, the string's value with `''` unescaped, the
 * number as written, or the symbol.
 */
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly pos: number;
}

const SYMBOLS = ["<=", ">=", "<>", "!=", "=", "<", ">", "(", ")", ",", ".", "*", "-"] as const;

const isWordStart = (c: string) => /[A-Za-z_]/.test(c);
const isWordChar = (c: string) => /[A-Za-z0-9_]/.test(c);
const isDigit = (c: string) => c >= "0" && c <= "9";

/** Splits query text into tokens; the last token has kind "end". Throws QueryError. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const at = (k: number) => text[k] ?? "";
  while (i < text.length) {
    const c = at(i);
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && at(i + 1) === "-") {
      while (i < text.length && at(i) !== "\n") i++;
    } else if (isWordStart(c)) {
      const start = i;
      while (isWordChar(at(i))) i++;
      tokens.push({ kind: "word", text: text.slice(start, i), pos: start });
    } else if (isDigit(c) || (c === "." && isDigit(at(i + 1)))) {
      tokens.push(readNumber(text, i));
      i += tokens[tokens.length - 1]!.text.length;
    } else if (c === "'") {
      const { token, next } = readString(text, i);
      tokens.push(token);
      i = next;
    } else if (c === ":") {
      const start = i++;
      if (!isWordStart(at(i))) throw new QueryError("expected a parameter name after ':'", text, start);
      while (isWordChar(at(i))) i++;
      tokens.push({ kind: "param", text: text.slice(start + 1, i), pos: start });
    } else {
      const symbol = SYMBOLS.find((s) => text.startsWith(s, i));
      if (symbol === undefined) {
        const hint = c === '"' ? " (strings are written in single quotes)" : "";
        throw new QueryError(`unexpected character ${JSON.stringify(c)}${hint}`, text, i);
      }
      tokens.push({ kind: "symbol", text: symbol, pos: i });
      i += symbol.length;
    }
  }
  tokens.push({ kind: "end", text: "", pos: text.length });
  return tokens;
}

function readNumber(text: string, start: number): Token {
  const match = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(text.slice(start));
  const written = match?.[0] ?? "";
  const after = text[start + written.length] ?? "";
  if (isWordChar(after) || after === ".") {
    throw new QueryError(`malformed number "${written}${after}"`, text, start);
  }
  if (!Number.isFinite(Number(written))) {
    throw new QueryError(`number "${written}" is too large`, text, start);
  }
  return { kind: "number", text: written, pos: start };
}

function readString(text: string, start: number): { token: Token; next: number } {
  let value = "";
  let i = start + 1;
  for (;;) {
    const end = text.indexOf("'", i);
    if (end < 0) throw new QueryError("unterminated string", text, start);
    value += text.slice(i, end);
    if (text[end + 1] === "'") {
      value += "'";
      i = end + 2;
    } else {
      return { token: { kind: "string", text: value, pos: start }, next: end + 1 };
    }
  }
}
