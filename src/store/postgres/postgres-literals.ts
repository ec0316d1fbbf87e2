/**
 * Values written into SQL text as literals, for `EXECUTE name(…)` of a statement prepared with SQL
 * `PREPARE`: such a call takes no bound parameters, so it can travel in one simple-query round trip
 * with BEGIN or COMMIT, and it still runs the connection's prepared plan. Each literal is an
 * untyped string constant, so PostgreSQL reads it with the input function of the parameter's
 * declared type, exactly as it reads a bound parameter's text (a value that type cannot hold fails
 * the statement, as it would bound).
 */

/** What one parameter may be: a scalar, or an array of scalars (one dimension). */
export type LiteralValue = string | number | boolean | null | undefined | ReadonlyArray<string | number | boolean | null | undefined>;

/** The SQL literal of `value`: NULL, or a quoted string constant (arrays in PostgreSQL's array syntax). */
export function sqlLiteral(value: LiteralValue): string {
  if (value === null || value === undefined) return "NULL";
  if (Array.isArray(value)) return arrayLiteral(value);
  return escapeLiteral(scalarText(value as string | number | boolean));
}

/**
 * `text` as a quoted SQL string constant: what pg's `escapeLiteral` gives (quotes doubled; when
 * the text holds a backslash, ` E'…'` with backslashes doubled), in time and memory linear in
 * the text's length. (pg's appends one character at a time: for a state of several MB, a string
 * of millions of pieces, tens of times the state's size in memory and seconds on the event loop.)
 */
export function escapeLiteral(text: string): string {
  const escaped = escapeBytes(text, IN_LITERAL);
  return text.includes("\\") ? ` E'${escaped}'` : `'${escaped}'`;
}

/** `EXECUTE name(literal, …)` of a statement prepared on the connection. */
export function executeStatement(name: string, values: readonly LiteralValue[]): string {
  return `EXECUTE ${name}(${values.map(sqlLiteral).join(", ")})`;
}

function scalarText(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "t" : "f";
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError(`not a value PostgreSQL can store: ${value}`);
  return String(value);
}

/**
 * The literal of PostgreSQL's array input syntax for `values`: every element double-quoted with
 * its backslashes and double quotes escaped by a backslash, NULL bare; and that text as a string
 * constant, as escapeLiteral would quote it. Both escapes are made in one pass over each element.
 */
function arrayLiteral(values: ReadonlyArray<string | number | boolean | null | undefined>): string {
  const elements = new Array<string>(values.length);
  let backslash = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      elements[i] = "NULL";
    } else {
      const text = scalarText(v);
      backslash ||= text.includes("\\") || text.includes('"');
      elements[i] = `"${escapeBytes(text, ELEMENT_IN_LITERAL)}"`;
    }
  }
  const text = `{${elements.join(",")}}`;
  return backslash ? ` E'${text}'` : `'${text}'`;
}

/** What to write for some ASCII characters, and the characters. */
interface Escapes {
  chars: readonly string[];
  /** By byte: how many bytes to write for it, when it is replaced (0: copied). */
  sizes: Uint8Array;
  /** By byte: the bytes to write for it, when it is replaced. */
  bytes: ReadonlyArray<Uint8Array>;
}

function escapes(replacements: Record<string, string>): Escapes {
  const sizes = new Uint8Array(256);
  const bytes = new Array<Uint8Array>(256).fill(new Uint8Array(0));
  for (const [char, replacement] of Object.entries(replacements)) {
    bytes[char.charCodeAt(0)] = Buffer.from(replacement, "latin1");
    sizes[char.charCodeAt(0)] = replacement.length;
  }
  return { chars: Object.keys(replacements), sizes, bytes };
}

/** A string constant's body: quotes and backslashes doubled (the E'' form when there is a backslash). */
const IN_LITERAL = escapes({ "'": "''", "\\": "\\\\" });

/** An array element's text inside the string constant: backslash-escaped for the array, then doubled for the constant. */
const ELEMENT_IN_LITERAL = escapes({ "'": "''", "\\": "\\\\\\\\", '"': '\\\\"' });

/**
 * `text` with the characters of `table` replaced. Done on the text's UTF-8 bytes, one pass to
 * size and one to copy (every character replaced is ASCII, and no byte of a multi-byte UTF-8
 * sequence is), and decoded once: about 10 ns a byte however many characters need escaping,
 * where replace, replaceAll or split and join cost a piece (and its garbage) per match, which the
 * double quotes of JSON make dense. A lone surrogate comes back as U+FFFD, as the query's UTF-8
 * would have sent it anyway.
 */
function escapeBytes(text: string, table: Escapes): string {
  if (!table.chars.some((char) => text.includes(char))) return text;
  const bytes = Buffer.from(text, "utf8");
  const { sizes, bytes: replacements } = table;
  let size = bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    const n = sizes[bytes[i]!]!;
    if (n !== 0) size += n - 1;
  }
  const out = Buffer.allocUnsafe(size);
  let j = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (sizes[c] === 0) {
      out[j++] = c;
    } else {
      const instead = replacements[c]!;
      for (let k = 0; k < instead.length; k++) out[j++] = instead[k]!;
    }
  }
  return out.toString("utf8");
}
