import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import pg from "pg";
import { escapeLiteral, sqlLiteral } from "./postgres-literals.ts";
import { commitOk, eventsWrite, kvWrite, testbed, whenPostgresAsked } from "./postgres-test-support.ts";

const tricky = [
  "",
  "plain",
  "it's",
  "''",
  "'",
  "\\",
  "\\\\'",
  "a\\b",
  "back\\slash and 'quote'",
  "' OR 1=1; --",
  "\\'; DROP TABLE x; --",
  'double "quotes" and {braces}, commas',
  "E'not an escape'",
  "ünïcödé ✓ 𝄞 😀 日本語",
  "line\nbreak\ttab\r",
  "$$dollar$$ $1 $&",
  "x".repeat(10_000) + "'" + "\\",
];

describe("postgres literals", () => {
  it("escape-as-pg-escapeLiteral-does", () => {
    for (const text of tricky) assert.equal(escapeLiteral(text), pg.escapeLiteral(text), JSON.stringify(text.slice(0, 40)));
  });

  it("a-literal-of-several-MB-is-one-flat-string-not-a-rope-of-one-piece-per-character", () => {
    // pg.escapeLiteral appends a character at a time: for this 4 MB text it holds a string of
    // millions of pieces, 30 and more times the text's size; the linear escape holds about one
    // copy (plus the garbage of at most a few).
    const size = 4_000_000;
    const text = `'\\"${"x".repeat(size)}'`;
    text.includes("'"); // flattened before the measurement
    for (const value of [text, [text]]) {
      const before = process.memoryUsage().heapUsed;
      const literal = sqlLiteral(value);
      const grown = process.memoryUsage().heapUsed - before;
      assert.ok(literal.length > size);
      assert.ok(grown < 10 * size, `the literal took ${Math.round(grown / 1e6)} MB of heap for ${size / 1e6} MB of text`);
    }
  });

  it("an-array-literal-is-pg-escapeLiteral-of-the-array-syntax", () => {
    // The array input syntax as it was written before: each element double-quoted, its backslashes
    // and double quotes escaped with a backslash; then the whole quoted by pg.
    const reference = (values: ReadonlyArray<string | number | boolean | null | undefined>): string =>
      pg.escapeLiteral(`{${values.map((v) => (v === null || v === undefined ? "NULL" : `"${String(typeof v === "boolean" ? (v ? "t" : "f") : v).replace(/[\\"]/g, "\\$&")}"`)).join(",")}}`);
    const arrays = [[], [null], tricky, ...tricky.map((t) => [t]), ['{"a":"b\\"c"}', "x", null, 1.5, false, undefined], ["plain", "words"]];
    for (const values of arrays) assert.equal(sqlLiteral(values), reference(values), JSON.stringify(values).slice(0, 60));
  });

  it("a-lone-surrogate-goes-over-the-wire-as-pg-would-send-it", () => {
    for (const text of ["a\ud800b'", "\udfff", "x\\\ud83d"]) {
      assert.deepEqual(Buffer.from(escapeLiteral(text), "utf8"), Buffer.from(pg.escapeLiteral(text), "utf8"));
    }
  });

  it("array-literals-escape-their-elements-then-the-whole", () => {
    assert.equal(sqlLiteral(["a", null, 'b"c', "d\\e", "f'g", 1, true, undefined]), ` E'{"a",NULL,"b\\\\"c","d\\\\\\\\e","f''g","1","t",NULL}'`);
    assert.equal(sqlLiteral([]), "'{}'");
    assert.equal(sqlLiteral(null), "NULL");
    assert.equal(sqlLiteral(false), "'f'");
  });
});

whenPostgresAsked((connectionString) => {
  const bed = testbed(connectionString);
  after(() => bed.dropSchemas());

  describe("postgres literals on a server", () => {
    it("every-tricky-text-and-array-reads-back-as-written", async () => {
      const client = await bed.rawClient();
      try {
        const texts = tricky.filter((t) => !t.includes("\u0000"));
        for (const text of texts) {
          const { rows } = await client.query<{ v: string }>(`SELECT ${sqlLiteral(text)}::text AS v`);
          assert.equal(rows[0]!.v, text);
        }
        const { rows } = await client.query<{ v: Array<string | null> }>(`SELECT ${sqlLiteral([...texts, null])}::text[] AS v`);
        assert.deepEqual(rows[0]!.v, [...texts, null]);
      } finally {
        await client.end();
      }
    });

    it("a-state-and-an-event-of-several-MB-with-quotes-backslashes-and-unicode-round-trip", async () => {
      await bed.withStore(async (store) => {
        const body = `'"\\ ünï ✓ 😀 `.repeat(300_000); // about 6 MB of JSON
        await commitOk(store, [kvWrite("doc", "big", 0, { body, n: 1 }), eventsWrite("ledger", "big", 0, { body })]);
        assert.deepEqual(await store.loadKv("doc", "big"), { version: 1, state: { body, n: 1 }, deleted: false });
        const [event] = (await store.loadHistory("ledger", "big")).events;
        assert.deepEqual(event?.payload, { body });
      });
    });
  });
});
