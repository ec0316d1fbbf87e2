import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, openSync, rmSync, rmdirSync, unlinkSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import bank from "../examples/bank/index.ts";
import { serve, type RunningService } from "../src/cli/serve.ts";
import { getJson, postJson, type JsonResponse } from "./support/http.ts";

/**
 * A full disk on SQLite (issue 19, item 7): the bank served in process on a 2 MiB tmpfs. With the
 * disk filled, commands are answered 503 `store_unavailable` (reason disk_full, a message that says
 * so, Retry-After), never 500; the outage is logged once per interval, not per request; `/health`
 * says so. Once space is freed the same requests sent again (same idempotency keys) are applied
 * once each, nothing acknowledged is lost, and the file passes integrity_check. Also: a read-only
 * data folder's error names the file.
 *
 * Needs to mount a tmpfs (root, or CAP_SYS_ADMIN): where it cannot, it registers nothing and
 * prints why.
 */

const mountPoint = mkdtempSync(join(tmpdir(), "sagaflow-disk-full-"));
const mountError = tryMount(mountPoint);
if (mountError === undefined) registerTests();
else {
  process.stderr.write(`SQLite disk-full test skipped: cannot mount a 2 MiB tmpfs at ${mountPoint} (${mountError})\n`);
  rmdirSync(mountPoint);
}

function tryMount(dir: string): string | undefined {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error).trim() || String(error);
  }
}

/** Writes 16 KiB blocks to `path` until the file system has no room left. */
function fillDisk(path: string): void {
  const fd = openSync(path, "w");
  const block = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    assert.equal((error as { code?: string }).code, "ENOSPC", String(error));
  } finally {
    closeSync(fd);
  }
}

function registerTests(): void {
  describe("SQLite on a full disk (2 MiB tmpfs)", () => {
    const services: RunningService[] = [];
    after(async () => {
      for (const service of services.splice(0)) await service.close().catch(() => {});
      execFileSync("umount", [mountPoint]);
      rmdirSync(mountPoint);
    });

    it("commands are 503 store_unavailable (disk full) with Retry-After, logged once; after freeing space they work and nothing acknowledged is lost", { timeout: 60_000 }, async () => {
      const dataDir = join(mountPoint, "data");
      const lines: string[] = [];
      const service = await serve({ service: bank, port: 0, adminPort: -1, dataDir, log: (line) => lines.push(line) });
      services.push(service);
      const base = service.url;
      const deposit = (key: string, amount: number) =>
        postJson(`${base}/wallet/a/deposit`, { amount }, { "idempotency-key": key }, 20_000);

      assert.equal((await postJson(`${base}/wallet/a/create`, { initialBalance: 0 })).status, 200);
      let acknowledged = 0;
      for (let i = 1; i <= 5; i++) {
        assert.equal((await deposit(`before-${i}`, i)).status, 200);
        acknowledged += i;
      }

      const filler = join(mountPoint, "filler");
      fillDisk(filler);
      const sent: Array<{ key: string; amount: number; res: JsonResponse }> = [];
      for (let i = 1; i <= 40; i++) {
        // Each deposit carries a payload large enough to need new pages of the WAL.
        sent.push({ key: `full-${i}`, amount: 100 + i, res: await deposit(`full-${i}`, 100 + i) });
      }
      const refused = sent.filter((s) => s.res.status === 503);
      for (const { res } of sent) {
        assert.ok(res.status === 200 || res.status === 503, `no 500 on a full disk: ${res.status} ${res.text}`);
        if (res.status === 200) continue;
        assert.equal(res.body?.error?.code, "store_unavailable", res.text);
        assert.equal(res.body?.error?.details?.reason, "disk_full", res.text);
        assert.match(res.body?.error?.message ?? "", /disk .*full/, res.text);
        assert.ok(!res.text.includes(mountPoint), `the public answer does not name the database file: ${res.text}`);
        assert.match(res.headers.get("retry-after") ?? "", /^\d+$/, "Retry-After is given");
      }
      assert.ok(refused.length > 0, "with the disk full, commands are refused");
      for (const s of sent) if (s.res.status === 200) acknowledged += s.amount;

      const health = await getJson(`${base}/health`);
      assert.equal(health.status, 503, health.text);
      assert.equal(health.body?.status, "unavailable", health.text);
      assert.equal(health.body?.reason, "disk_full", health.text);
      assert.ok(!health.text.includes(mountPoint), health.text);

      const outageLines = lines.filter((line) => line.includes("store unavailable"));
      assert.equal(outageLines.length, 1, `one log line for ${refused.length} refused requests, not one each:\n${outageLines.join("\n")}`);
      assert.ok(outageLines[0]!.includes(dataDir), `the log names the file for the operator: ${outageLines[0]}`);
      assert.equal(lines.filter((line) => line.includes("internal error")).length, 0, lines.join("\n"));

      // Space again: the refused requests, sent again with their keys, are applied once each.
      unlinkSync(filler);
      for (const s of sent) {
        const again = await deposit(s.key, s.amount);
        assert.equal(again.status, 200, again.text);
        if (s.res.status === 503) acknowledged += s.amount;
      }
      assert.deepEqual((await getJson(`${base}/wallet/a/balance`)).body, { balance: acknowledged });
      assert.equal((await getJson(`${base}/health`)).status, 200, "healthy again after a successful commit");

      await service.close();
      services.splice(services.indexOf(service), 1);
      const db = new Database(join(dataDir, "sagaflow.db"), { readonly: true });
      try {
        assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      } finally {
        db.close();
      }
      // Restarted, the balance is what was acknowledged.
      const again = await serve({ service: bank, port: 0, adminPort: -1, dataDir, log: () => {} });
      services.push(again);
      assert.deepEqual((await getJson(`${again.url}/wallet/a/balance`)).body, { balance: acknowledged });
      await again.close();
      services.splice(services.indexOf(again), 1);
    });

    it("a read-only data folder: the error names the database file", { timeout: 30_000 }, async () => {
      const dataDir = join(mountPoint, "readonly");
      const first = await serve({ service: bank, port: 0, adminPort: -1, dataDir, log: () => {} });
      await first.close();
      rmSync(join(mountPoint, "filler"), { force: true });
      execFileSync("mount", ["-o", "remount,ro", mountPoint]);
      try {
        await assert.rejects(
          serve({ service: bank, port: 0, adminPort: -1, dataDir, log: () => {} }),
          (error: Error) => {
            assert.ok(error.message.includes(join(dataDir, "sagaflow.db")), `names the file: ${error.message}`);
            return true;
          },
        );
      } finally {
        execFileSync("mount", ["-o", "remount,rw", mountPoint]);
      }
    });
  });
}
