import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";

/**
 * A program that only imports definitions from "sagaflow" loads no database driver: better-sqlite3
 * (a native addon) and pg are loaded when a store of theirs is opened. Checked in a fresh process,
 * by the CommonJS module cache and by the shared objects the process has loaded.
 */

const run = promisify(execFile);
const index = resolve("src/index.ts");

const child = `
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const drivers = () => [
  ...Object.keys(require.cache).filter((k) => /node_modules[\\\\/](better-sqlite3|pg)[\\\\/]/.test(k)).map((k) => k.replace(/.*node_modules[\\\\/]/, "").split(/[\\\\/]/)[0]),
  ...process.report.getReport().sharedObjects.filter((s) => s.includes("better_sqlite3")).map(() => "better_sqlite3.node"),
];
const sagaflow = await import(${JSON.stringify(index)});
const wallet = sagaflow.entity("wallet", { initial: () => ({ n: 0 }), events: { added: (s) => ({ n: s.n + 1 }) } }, {
  commands: { add: (_s, _c, fx) => fx.emit("added", {}).reply((s) => s.n) },
  queries: {},
});
const service = sagaflow.service("lazy", [wallet]);
const seen = { imported: [...new Set(drivers())] };
const memory = sagaflow.createSagaflow(service, { store: sagaflow.memoryStore(), log: () => {} });
await memory.start();
await memory.client.call(wallet, "w").add({});
await memory.stop();
seen.memoryStarted = [...new Set(drivers())];
const file = sagaflow.createSagaflow(service, { store: sagaflow.sqlite(":memory:"), log: () => {} });
await file.start();
seen.added = await file.client.call(wallet, "w").add({});
await file.stop();
seen.sqliteStarted = [...new Set(drivers())];
console.log(JSON.stringify(seen));
`;

describe("database drivers load lazily", () => {
  it("importing-sagaflow-loads-neither-better-sqlite3-nor-pg-until-a-store-opens", { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", child], { timeout: 50_000 });
    const seen = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    assert.deepEqual(seen["imported"], [], "importing the package loads no driver");
    assert.deepEqual(seen["memoryStarted"], [], "a memory store loads no driver");
    assert.equal(seen["added"], 1);
    // The check sees a driver when one is loaded: the SQLite store brings better-sqlite3, not pg.
    assert.deepEqual((seen["sqliteStarted"] as string[]).sort(), ["better-sqlite3", "better_sqlite3.node"]);
  });
});
