import { SagaflowError } from "../../define/errors.ts";

/** Line and column (both 1-based) of a 0-based offset in `text`. */
export function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: position - lineStart + 1 };
}

/**
 * A view query that cannot be parsed or checked: a bug in the view's definition, found at
 * start-up. `position` is the 0-based offset into the query text; `line` and `column` are 1-based.
 * The message ends with the location, e.g. `expected FROM at line 1, column 10`.
 *
 * @example
 * try { parseQuery("SELECT * WHERE a = 1"); }
 * catch (e) { if (e instanceof QueryError) console.log(e.line, e.column, e.reason); }
 */
export class QueryError extends SagaflowError {
  readonly position: number;
  readonly line: number;
  readonly column: number;
  /** The message without the location. */
  readonly reason: string;

  constructor(reason: string, text: string, position: number) {
    const { line, column } = lineAndColumn(text, position);
    super("invalid_query", `${reason} at line ${line}, column ${column}`, {
      details: { position, line, column },
    });
    this.position = position;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

/**
 * A parameter value that a query cannot run with: missing, of a type the query cannot use, or a
 * bad LIMIT/OFFSET/LIKE value. The caller (usually an HTTP client) can fix it: status 400.
 */
export class QueryParamError extends SagaflowError {
  /** The parameter's name, without the colon. */
  readonly param: string;

  constructor(param: string, message: string) {
    super("invalid_query_param", `parameter :${param} ${message}`, { details: { param } });
    this.param = param;
  }
}
