import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { cli } from "./support/cli.ts";
import { getJson, postJson, requestJson } from "./support/http.ts";
import { SagaflowProcess, sleep, tempDir } from "./support/server-process.ts";

/**
 * `sagaflow backup` against a real service under load (test/fixtures/bank-states): clients keep
 * starting transfers while the backup runs in another process. The backup file, served as
 * `sagaflow.db` of a new folder, holds every transfer acknowledged before the backup began,
 * passes SQLite's integrity check, and finishes the transfers that were running or paused in it
 * (a deposit step retried until a cure file exists, a pause with a timer): the money adds up.
 */

const wallets = 10;
const initialBalance = 100_000;
const clients = 6;
const fixture = "test/fixtures/bank-states";

describe("sagaflow backup of a SQLite service under load", () => {
  const work = tempDir("sagaflow-backup-");
  const cure = join(work, "cure");
  let server: SagaflowProcess | undefined;
  let restored: SagaflowProcess | undefined;
  after(async () => {
    await server?.cleanup();
    await restored?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it("restores every acknowledged transfer, consistent, and resumes the running ones", { timeout: 120_000 }, async () => {
    server = await SagaflowProcess.start({ target: fixture, env: { BANK_CURE_FILE: cure } });
    const url = server.url;
    const admin = await server.admin();
    for (let i = 0; i < wallets; i++) {
      assert.equal((await postJson(`${url}/wallet/w${i}/create`, { initialBalance })).status, 200);
    }
    // Left unfinished in the backup whatever the timing: stuck until cured, paused for a while.
    for (let i = 0; i < 5; i++) {
      await postJson(`${url}/held-transfer/stuck${i}/start`, { from: `w${i}`, to: `w${i + 1}`, amount: 7, mode: "stuck" });
      await postJson(`${url}/held-transfer/held${i}/start`, { from: `w${i + 1}`, to: `w${i}`, amount: 3, mode: "hold", holdMs: 4_000 });
    }

    /** Transfers acknowledged, with when the acknowledgement arrived. */
    const acknowledged: Array<{ id: string; at: number }> = [];
    let stop = false;
    const load = Array.from({ length: clients }, async (_, c) => {
      for (let n = 0; !stop; n++) {
        const id = `c${c}-${n}`;
        const from = `w${(c + n) % wallets}`;
        const to = `w${(c + 2 * n + 1) % wallets}`;
        const res = await postJson(`${url}/held-transfer/${id}/start`, { from, to, amount: 1 + (n % 5), mode: "now" });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        acknowledged.push({ id, at: performance.now() });
      }
    });
    await sleep(1_000);
    const backupFile = join(work, "backup.db");
    const began = performance.now();
    const run = await cli(["backup", backupFile, "--admin", admin]);
    const ended = performance.now();
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /backed up to .*backup\.db/);
    await sleep(300);
    stop = true;
    await Promise.all(load);
    const before = acknowledged.filter((t) => t.at < began);
    assert.ok(before.length > 0 && acknowledged.some((t) => t.at > ended), "transfers were acknowledged before and after the backup");

    // A second backup to the same file is refused and changes nothing; a relative path is refused.
    const again = await cli(["backup", backupFile, "--admin", admin]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /backup_exists/);
    const relative = await requestJson(`${admin}/backup`, { method: "POST", body: { path: "relative.db" } });
    assert.equal(relative.status, 400);
    assert.equal(relative.body.error.code, "invalid_backup_path");

    // The file itself: intact, and unfinished transfers in it.
    const db = new Database(backupFile, { readonly: true });
    try {
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      const open = db.prepare("SELECT count(*) FROM workflows WHERE status IN ('running', 'paused')").pluck().get() as number;
      assert.ok(open >= 5, `the backup holds unfinished transfers (${open})`);
    } finally {
      db.close();
    }
    assert.equal((await server.stop()).code, 0);

    // Restore: the file as sagaflow.db of a new folder, served with the cure in place.
    const folder = join(work, "restored");
    mkdirSync(folder);
    copyFileSync(backupFile, join(folder, "sagaflow.db"));
    writeFileSync(cure, "");
    restored = await SagaflowProcess.start({ target: fixture, dataDir: folder, env: { BANK_CURE_FILE: cure } });
    const restoredUrl = restored.url;
    for (const { id } of before) {
      const res = await getJson(`${restoredUrl}/held-transfer/${id}`, { wait: 20 });
      assert.equal(res.status, 200, `transfer ${id}, acknowledged before the backup began, is in it`);
      assert.equal(res.body.status, "ended");
      assert.equal(res.body.state.status, "completed");
    }
    for (let i = 0; i < 5; i++) {
      for (const id of [`stuck${i}`, `held${i}`]) {
        const res = await getJson(`${restoredUrl}/held-transfer/${id}`, { wait: 30 });
        assert.equal(res.body.status, "ended", `${id} resumed and ended on the restored copy`);
      }
    }
    // Every transfer in the copy has ended by now (those started later may be in it too): the money adds up.
    let total = 0;
    for (let i = 0; i < wallets; i++) total += (await getJson(`${restoredUrl}/wallet/w${i}/balance`)).body.balance;
    const unfinished = await getJson(`${await restored.admin()}/workflows`, { status: "running,paused" });
    assert.deepEqual(unfinished.body.workflows, []);
    assert.equal(total, wallets * initialBalance, "the sum of the balances is conserved");
    assert.ok(existsSync(backupFile));
  });
});
