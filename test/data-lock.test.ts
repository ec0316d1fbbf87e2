import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { getJson, postJson } from "./support/http.ts";
import { repoRoot, SagaflowProcess, tempDir } from "./support/server-process.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";

/**
 * Issue 11, point 8: a second `sagaflow serve` on a --data folder a live process serves refuses
 * to start and names that process; a SIGKILLed owner never blocks a restart.
 */

const handles: SagaflowProcess[] = [];
const dirs: string[] = [];
after(async () => {
  for (const handle of handles.reverse()) await handle.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("one process per --data folder (real processes)", () => {
  it("a second serve refuses, naming the first (pid and command); after SIGKILL of the first a new one starts", async () => {
    const first = await SagaflowProcess.start({ target: "examples/bank" });
    handles.push(first);
    assert.equal((await postJson(`${first.url}/wallet/w1/create`, { initialBalance: 7 })).status, 200);

    const second = SagaflowProcess.create({ target: "examples/bank", dataDir: first.dataDir, readyTimeoutMs: 15_000 });
    handles.push(second);
    await assert.rejects(second.start(), (error: Error) => {
      assert.match(error.message, /did not start/);
      return true;
    });
    const exit = await second.exited;
    assert.equal(exit.code, 1, second.output());
    const said = second.output();
    assert.match(said, /sagaflow\.db is in use by another live process/);
    assert.ok(said.includes(`pid ${first.pid}`), said);
    assert.match(said, /sagaflow\.mjs serve .*examples\/bank/);
    assert.doesNotMatch(said, /serving/);

    // The first still serves, untouched.
    assert.deepEqual((await getJson(`${first.url}/wallet/w1/balance`)).body, { balance: 7 });

    // SIGKILL leaves the lock file behind; its owner is dead, so it does not block.
    await first.kill("SIGKILL");
    assert.ok(existsSync(join(first.dataDir, "sagaflow.db.lock")), "a SIGKILLed owner cannot remove its lock");
    await second.start();
    assert.deepEqual((await getJson(`${second.url}/wallet/w1/balance`)).body, { balance: 7 });

    // A graceful stop removes the lock.
    const stopped = await second.stop();
    assert.equal(stopped.code, 0, second.output());
    assert.equal(existsSync(join(first.dataDir, "sagaflow.db.lock")), false);
  });

  it("a lock naming a pid that no longer runs (or was reused since) is taken over", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const lock = join(dir, "sagaflow.db.lock");
    // Our parent's pid, with a start time it never had: the pid was reused by another process.
    writeFileSync(lock, JSON.stringify({ pid: process.ppid, started: "1", host: hostname(), command: "gone", since: "then" }));
    const server = await SagaflowProcess.start({ target: "examples/bank", dataDir: dir });
    handles.push(server);
    const owner = JSON.parse(readFileSync(lock, "utf8")) as { pid: number };
    assert.equal(owner.pid, server.pid);
  });

  it("in one process the same file may be opened twice (the lock is counted), and closing both frees it", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir, "sagaflow.db");
    const a = new SqliteStore({ path });
    const b = new SqliteStore({ path });
    await a.close();
    assert.ok(existsSync(`${path}.lock`), "b still holds it");
    await b.close();
    await b.close();
    assert.equal(existsSync(`${path}.lock`), false);
  });
});

/**
 * A database file the service's user may read but not write (restored as root, served as another
 * user): the start stops, naming the file, rather than start, answer /health and fail every command
 * with a 500. Acting as another user needs root (as in CI); elsewhere the test says so and is not registered.
 */
if (process.getuid?.() === 0) {
  describe("a database file the service cannot write (real process, another user)", () => {
    it("stops the start with the file named, instead of failing every command", { timeout: 60_000 }, async () => {
      const dir = tempDir();
      dirs.push(dir);
      const store = new SqliteStore({ path: join(dir, "sagaflow.db") });
      await store.migrate();
      await store.close();
      chmodSync(join(dir, "sagaflow.db"), 0o644);
      chmodSync(dir, 0o777); // the folder is writable (its lock file goes there); the file is root's
      const run = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, join(repoRoot, "bin/sagaflow.mjs"), "serve", "examples/bank", "--data", dir, "--port", "0"], {
        cwd: repoRoot,
        encoding: "utf8",
        timeout: 45_000,
      });
      assert.equal(run.status, 1, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stderr + run.stdout, /cannot write the database file .*sagaflow\.db \(attempt to write a readonly database\)/);
      assert.doesNotMatch(run.stderr + run.stdout, /serving "bank"/);
    });

    it("a data folder it cannot write, or cannot create, is named as such (not a bare EACCES), once", { timeout: 60_000 }, async () => {
      const dir = tempDir();
      dirs.push(dir);
      chmodSync(dir, 0o755); // root's: another user can neither put its lock there nor make a folder in it
      const serveAsNobody = (data: string) => spawnSync("runuser", ["-u", "nobody", "--", process.execPath, join(repoRoot, "bin/sagaflow.mjs"), "serve", "examples/bank", "--data", data, "--port", "0"], {
        cwd: repoRoot,
        encoding: "utf8",
        timeout: 45_000,
      });
      const locked = serveAsNobody(dir);
      assert.equal(locked.status, 1, `${locked.stdout}\n${locked.stderr}`);
      const said = locked.stderr + locked.stdout;
      assert.match(said, /cannot write the database file .*sagaflow\.db \(EACCES: permission denied, open '.*sagaflow\.db\.lock\.\d+\.tmp'\): check that it and its folder .* are writable/);
      assert.equal(said.match(/startup_refused/g)?.length, 1, said);
      const unmade = serveAsNobody(join(dir, "sub"));
      assert.equal(unmade.status, 1);
      assert.match(unmade.stderr + unmade.stdout, /cannot create the data folder .*sub \(EACCES: permission denied, mkdir '.*sub'\): create it writable for this user, or choose another with --data/);
    });
  });
} else {
  process.stderr.write("the unwritable-file test acts as another user: run as root to run it\n");
}
