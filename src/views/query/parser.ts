import type {
  Column, CompareOp, Condition, Field, Literal, OrderKey, Param, Query, Select, Value,
} from "./ast.ts";
import { KEY_FIELD } from "./ast.ts";
import { QueryError } from "./errors.ts";
import { likePrefix } from "./like-pattern.ts";
import { tokenize } from "./lexer.ts";
import type { Token } from "./lexer.ts";

/** Words that cannot be used as a bare field name, alias or table name (they can after a dot). */
const RESERVED = new Set([
  "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE",
  "ORDER", "BY", "LIMIT", "OFFSET", "AS", "TRUE", "FALSE",
]);
const COMPARE_OPS: Record<string, CompareOp> = {
  "=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
};
/** Deepest nesting of parentheses and NOTs accepted (keeps recursion finite). */
const MAX_DEPTH = 64;

type ParamUse = "value" | "list" | "pattern" | "count";

/**
 * Parses a view query. Throws QueryError, with the position of the offending token, for every
 * syntax error and for conditions that could never be true (`= null`, bad LIKE patterns).
 *
 * @example
 * const q = parseQuery("SELECT * FROM carts WHERE userId = :user ORDER BY createdAt DESC LIMIT 20");
 */
export function parseQuery(text: string): Query {
  return new Parser(text).query();
}

class Parser {
  private readonly tokens: Token[];
  private index = 0;
  private readonly paramUses = new Map<string, ParamUse>();

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  query(): Query {
    this.expectKeyword("SELECT");
    const select = this.select();
    this.expectKeyword("FROM");
    const table = this.name("a table name");
    const where = this.acceptKeyword("WHERE") ? this.or(0) : undefined;
    const orderBy: OrderKey[] = [];
    const orderToken = this.peek();
    if (this.acceptKeyword("ORDER")) {
      this.expectKeyword("BY");
      do orderBy.push(this.orderKey());
      while (this.acceptSymbol(","));
    }
    const limitToken = this.peek();
    const limit = this.acceptKeyword("LIMIT") ? this.count("LIMIT") : undefined;
    const offsetToken = this.peek();
    const offset = this.acceptKeyword("OFFSET") ? this.count("OFFSET") : undefined;
    if (this.peek().kind !== "end") {
      const next = offset ? [] : limit ? ["OFFSET"] : orderBy.length > 0 ? ["',', LIMIT", "OFFSET"]
        : [where ? "AND, OR" : "WHERE", "ORDER BY", "LIMIT", "OFFSET"];
      this.fail(`expected ${[...next, "the end of the query"].join(", ").replace(/, (?!.*, )/, " or ")}`);
    }
    if (select.kind === "count") {
      const misplaced = orderBy.length > 0 ? orderToken : limit ? limitToken : offset ? offsetToken : undefined;
      if (misplaced) this.error(`count(*) cannot have ${misplaced.text.toUpperCase()}`, misplaced.pos);
    }
    return { source: this.text, select, from: table.name, fromPos: table.pos, where, orderBy, limit, offset };
  }

  private select(): Select {
    if (this.acceptSymbol("*")) return { kind: "rows", name: this.alias() };
    const [first, second] = [this.peek(), this.peek(1)];
    if (first.kind === "word" && first.text.toLowerCase() === "count" && second.kind === "symbol" && second.text === "(") {
      this.index += 2;
      this.expectSymbol("*", "'*' (only count(*) is supported)");
      this.expectSymbol(")");
      return { kind: "count", name: this.alias() };
    }
    if (this.acceptSymbol("(")) {
      const columns = this.columns();
      this.expectSymbol(")");
      return { kind: "columns", columns, name: this.alias() };
    }
    return { kind: "columns", columns: this.columns(), name: undefined };
  }

  private columns(): Column[] {
    const columns: Column[] = [];
    do {
      const field = this.field();
      const key = this.alias() ?? field.path.join(".");
      if (columns.some((c) => c.key === key)) this.error(`duplicate result column "${key}"`, field.pos);
      columns.push({ field, key });
    } while (this.acceptSymbol(","));
    return columns;
  }

  private alias(): string | undefined {
    return this.acceptKeyword("AS") ? this.name("a name after AS").name : undefined;
  }

  private orderKey(): OrderKey {
    const field = this.field();
    const direction = this.peek();
    const word = direction.kind === "word" ? direction.text.toUpperCase() : "";
    if (word === "ASC" || word === "DESC") this.index++;
    return { field, descending: word === "DESC" };
  }

  private count(clause: string): Value {
    const token = this.peek();
    if (token.kind === "param") return this.param("count");
    if (token.kind === "number" && /^\d+$/.test(token.text) && Number.isSafeInteger(Number(token.text))) {
      this.index++;
      return { kind: "literal", value: Number(token.text), pos: token.pos };
    }
    return this.fail(`expected a whole number or a parameter after ${clause}`);
  }

  private or(depth: number): Condition {
    const operands = [this.and(depth)];
    while (this.acceptKeyword("OR")) operands.push(this.and(depth));
    return operands.length === 1 ? operands[0]! : { kind: "or", operands };
  }

  private and(depth: number): Condition {
    const operands = [this.unary(depth)];
    while (this.acceptKeyword("AND")) operands.push(this.unary(depth));
    return operands.length === 1 ? operands[0]! : { kind: "and", operands };
  }

  private unary(depth: number): Condition {
    if (depth >= MAX_DEPTH) this.fail(`conditions nested deeper than ${MAX_DEPTH} levels`);
    if (this.acceptKeyword("NOT")) return { kind: "not", operand: this.unary(depth + 1) };
    if (this.acceptSymbol("(")) {
      const inner = this.or(depth + 1);
      this.expectSymbol(")", "')' or a condition operator (AND, OR)");
      return inner;
    }
    return this.predicate();
  }

  private predicate(): Condition {
    const field = this.field("a field name, NOT or '('");
    const token = this.peek();
    const op = token.kind === "symbol" ? COMPARE_OPS[token.text] : undefined;
    if (op !== undefined) {
      this.index++;
      const value = this.value("value");
      if (value.kind === "literal" && value.value === null) {
        this.error(`a comparison with null is never true: use IS ${op === "=" ? "" : "NOT "}NULL`, value.pos);
      }
      return { kind: "compare", field, op, value };
    }
    if (this.acceptKeyword("IS")) {
      const negated = this.acceptKeyword("NOT");
      this.expectKeyword("NULL");
      return { kind: "isNull", field, negated };
    }
    const negated = this.acceptKeyword("NOT");
    if (this.acceptKeyword("IN")) return { kind: "in", field, values: this.inList(), negated };
    if (this.acceptKeyword("LIKE")) return { kind: "like", field, pattern: this.pattern(), negated };
    return this.fail(negated ? "expected IN or LIKE after NOT" : "expected =, !=, <>, <, <=, >, >=, IN, NOT IN, IS, LIKE or NOT LIKE");
  }

  private inList(): readonly Value[] | Param {
    if (this.peek().kind === "param") return this.param("list");
    this.expectSymbol("(", "'(' or a parameter after IN");
    const values: Value[] = [];
    let type: string | undefined;
    do {
      const value = this.value("value");
      if (value.kind === "literal") {
        if (value.value === null) this.error("null in an IN list never matches: use IS NULL", value.pos);
        const kind = typeof value.value;
        if (type !== undefined && kind !== type) this.error(`IN list mixes ${type}s and ${kind}s`, value.pos);
        type = kind;
      }
      values.push(value);
    } while (this.acceptSymbol(","));
    this.expectSymbol(")", "',' or ')'");
    return values;
  }

  private pattern(): Value {
    const token = this.peek();
    if (token.kind === "param") return this.param("pattern");
    if (token.kind !== "string") return this.fail("expected a 'prefix%' string or a parameter after LIKE");
    this.index++;
    const checked = likePrefix(token.text);
    if ("error" in checked) this.error(checked.error, token.pos);
    return { kind: "literal", value: token.text, pos: token.pos };
  }

  private value(use: ParamUse): Value {
    const token = this.peek();
    if (token.kind === "param") return this.param(use);
    const literal = (value: Literal["value"]): Literal => {
      this.index++;
      return { kind: "literal", value, pos: token.pos };
    };
    if (token.kind === "string") return literal(token.text);
    if (token.kind === "number") return literal(Number(token.text));
    if (token.kind === "symbol" && token.text === "-" && this.peek(1).kind === "number") {
      this.index++;
      return { ...literal(-Number(this.peek().text)), pos: token.pos };
    }
    const word = token.kind === "word" ? token.text.toUpperCase() : "";
    if (word === "TRUE" || word === "FALSE") return literal(word === "TRUE");
    if (word === "NULL") return literal(null);
    return this.fail("expected a value (number, 'string', true, false, null or :parameter)");
  }

  private param(use: ParamUse): Param {
    const token = this.peek();
    this.index++;
    const previous = this.paramUses.get(token.text);
    if (previous !== undefined && previous !== use && (previous === "list" || use === "list")) {
      this.error(`parameter :${token.text} is used both as an array (IN :${token.text}) and as a single value`, token.pos);
    }
    if (previous === undefined || use === "list") this.paramUses.set(token.text, use);
    return { kind: "param", name: token.text, pos: token.pos };
  }

  private field(expected = "a field name"): Field {
    const first = this.name(expected);
    const path = [first.name];
    while (this.acceptSymbol(".")) {
      if (path[0] === KEY_FIELD && path.length === 1) {
        this.error(`${KEY_FIELD} is the row key and has no fields`, first.pos);
      }
      const token = this.peek();
      if (token.kind !== "word") this.fail("expected a field name after '.'");
      this.index++;
      path.push(token.text);
    }
    return { kind: "field", path, pos: first.pos };
  }

  private name(expected: string): { name: string; pos: number } {
    const token = this.peek();
    if (token.kind !== "word" || RESERVED.has(token.text.toUpperCase())) {
      const reserved = token.kind === "word" ? ` (${token.text.toUpperCase()} is a reserved word)` : "";
      return this.fail(`expected ${expected}${reserved}`);
    }
    this.index++;
    return { name: token.text, pos: token.pos };
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.index + ahead, this.tokens.length - 1)]!;
  }

  private acceptKeyword(word: string): boolean {
    const token = this.peek();
    const match = token.kind === "word" && token.text.toUpperCase() === word;
    if (match) this.index++;
    return match;
  }

  private expectKeyword(word: string): void {
    if (!this.acceptKeyword(word)) this.fail(`expected ${word}`);
  }

  private acceptSymbol(symbol: string): boolean {
    const token = this.peek();
    const match = token.kind === "symbol" && token.text === symbol;
    if (match) this.index++;
    return match;
  }

  private expectSymbol(symbol: string, expected = `'${symbol}'`): void {
    if (!this.acceptSymbol(symbol)) this.fail(`expected ${expected}`);
  }

  /** Throws "expected … but found …" at the current token. */
  private fail(expected: string): never {
    const token = this.peek();
    const found = token.kind === "end" ? "the end of the query"
      : token.kind === "string" ? "a string" : `"${token.kind === "param" ? ":" : ""}${token.text}"`;
    return this.error(`${expected} but found ${found}`, token.pos);
  }

  private error(reason: string, pos: number): never {
    throw new QueryError(reason, this.text, pos);
  }
}
