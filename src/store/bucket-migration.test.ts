/**
 * The migrations that add the bucket column to workflows (SQLite 8, PostgreSQL 7) and to timers
 * (SQLite 9, PostgreSQL 8) give every row stored before them the bucket the runtime computes
 * (src/store/buckets.ts), on both databases, whatever the characters of the names and ids (beyond
 * the BMP too, where JavaScript sees two UTF-16 code units).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { timerBucket, workflowBucket } from "./buckets.ts";
import { applyMigrations as applySqlite, migrations as sqliteMigrations } from "./sqlite/migrations.ts";
import { applyMigrations as applyPostgres, migrations as postgresMigrations, quoteIdent } from "./postgres/migrations.ts";
import { testbed, whenPostgresAsked } from "./postgres/postgres-test-support.ts";

const instances: Array<[string, string]> = [
  ["transfer", "t1"],
  ["transfer", "t2"],
  ["transfer", "order-000123"],
  ["Überweisung", "ключ-7"],
  ["emoji", "😀-id-🚀"],
  ["mixed", "a\u00e9\u4e2d\u{1f600}z"],
  ...Array.from({ length: 40 }, (_, i): [string, string] => ["bulk", `id-${i}`]),
];
const insertTimerSql = (table: string) =>
  `INSERT INTO ${table} (name, generation, due_at, component, id, handler, input, attempts, status, last_error, created_at) VALUES ($name, 1, 5, 'c', 'i', 'h', NULL, 0, 'pending', NULL, 0)`;
/** The timers' migration: the first that adds a bucket column to the timers table. */
const addsTimerBucket = (m: { sql: string }) => m.sql.includes("ALTER TABLE timers ADD COLUMN bucket");
const insertSql = (table: string) =>
  `INSERT INTO ${table} (name, id, version, status, attempt, exec_id, start_hash, created_at, updated_at) VALUES ($name, $id, 1, 'running', 0, 1, 'h', 0, 0)`;

describe("the bucket column is filled for rows stored before it", () => {
  it("sqlite-rows-get-the-runtimes-bucket", () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-bucket-migration-"));
    try {
      const db = new Database(join(dir, "m.db"));
      const before = sqliteMigrations.findIndex((m) => m.sql.includes("ADD COLUMN bucket"));
      assert.ok(before > 0);
      applySqlite(db, sqliteMigrations.slice(0, before));
      const insert = db.prepare(insertSql("workflows").replaceAll("$", "@"));
      for (const [name, id] of instances) insert.run({ name, id });
      applySqlite(db, sqliteMigrations.slice(0, sqliteMigrations.findIndex(addsTimerBucket)));
      const insertTimer = db.prepare(insertTimerSql("timers").replaceAll("$", "@"));
      for (const [name, id] of instances) insertTimer.run({ name: `${name}:${id}` });
      applySqlite(db);
      const rows = db.prepare("SELECT name, id, bucket FROM workflows").all() as Array<{ name: string; id: string; bucket: number }>;
      const timers = db.prepare("SELECT name, bucket FROM timers").all() as Array<{ name: string; bucket: number }>;
      db.close();
      assert.equal(timers.length, instances.length);
      for (const timer of timers) assert.equal(timer.bucket, timerBucket(timer.name), timer.name);
      assert.ok(new Set(timers.map((r) => r.bucket)).size > 8, "the timers spread over the buckets");
      assert.equal(rows.length, instances.length);
      for (const row of rows) assert.equal(row.bucket, workflowBucket(row.name, row.id), `${row.name}/${row.id}`);
      assert.ok(new Set(rows.map((r) => r.bucket)).size > 8, "the rows spread over the buckets");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

whenPostgresAsked((url) => {
  describe("the bucket column is filled for rows stored before it: PostgreSQL", () => {
    const bed = testbed(url);
    after(() => bed.dropSchemas());

    it("postgres-rows-get-the-runtimes-bucket", async () => {
      const schema = bed.freshSchema();
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        const client = await pool.connect();
        try {
          const before = postgresMigrations.findIndex((m) => m.sql.includes("ADD COLUMN bucket"));
          assert.ok(before > 0);
          await applyPostgres(client, schema, postgresMigrations.slice(0, before));
          for (const [name, id] of instances) {
            await client.query(insertSql(`${quoteIdent(schema)}.workflows`).replace("$name", "$1").replace("$id", "$2"), [name, id]);
          }
          await applyPostgres(client, schema, postgresMigrations.slice(0, postgresMigrations.findIndex(addsTimerBucket)));
          for (const [name, id] of instances) {
            await client.query(insertTimerSql(`${quoteIdent(schema)}.timers`).replace("$name", "$1"), [`${name}:${id}`]);
          }
          await applyPostgres(client, schema);
          const { rows: timers } = await client.query<{ name: string; bucket: number }>(`SELECT name, bucket FROM ${quoteIdent(schema)}.timers`);
          assert.equal(timers.length, instances.length);
          for (const timer of timers) assert.equal(timer.bucket, timerBucket(timer.name), timer.name);
          const { rows } = await client.query<{ name: string; id: string; bucket: number }>(`SELECT name, id, bucket FROM ${quoteIdent(schema)}.workflows`);
          assert.equal(rows.length, instances.length);
          for (const row of rows) assert.equal(row.bucket, workflowBucket(row.name, row.id), `${row.name}/${row.id}`);
        } finally {
          client.release();
        }
      } finally {
        await pool.end();
      }
    });
  });
});
