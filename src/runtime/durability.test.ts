import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SagaflowError } from "../define/errors.ts";
import type { InstanceWrite, WriteOutcome } from "../store/port.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { Runtime } from "./runtime.ts";
import { counter, wrapStore } from "./test-support.ts";

/**
 * A SQLite store whose commits can be held: while `hold` is on, each commit waits until
 * `release()` (then runs) or `fail()` (then rejects, keeping nothing).
 */
const controls: Array<{ hold: boolean; release(): void }> = [];

/** Lets every held commit go, so that a failed test cannot leave stop() waiting forever. */
function releaseAll(): void {
  for (const c of controls) {
    c.hold = false;
    c.release();
  }
}

function controlledStore(path: string) {
  const inner = new SqliteStore({ path });
  const waiting: Array<{ go: () => void; fail: (e: unknown) => void }> = [];
  const control = {
    hold: false,
    commits: 0,
    /** Reads of an instance: whole (loadHistory) or after a copy (readEvents). */
    loads: 0,
    get waiting() {
      return waiting.length;
    },
    release() {
      for (const w of waiting.splice(0)) w.go();
    },
    fail(error: unknown) {
      for (const w of waiting.splice(0)) w.fail(error);
    },
  };
  controls.push(control);
  const store = wrapStore(inner, {
    async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
      control.commits++;
      if (control.hold) {
        await new Promise<void>((go, fail) => waiting.push({ go, fail }));
      }
      return inner.commit(writes);
    },
    async loadHistory(component, id) {
      control.loads++;
      return inner.loadHistory(component, id);
    },
    // How a copy known to be behind is read again: the events after it.
    async readEvents(component, id, afterSeq, limit) {
      control.loads++;
      return inner.readEvents(component, id, afterSeq, limit);
    },
  });
  return { store, inner, control };
}

const ticks = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

/**
 * For one suite: `setup()` starts a runtime on a fresh controlled store (a file of its own in a
 * temporary folder). After the suite, held commits are let go, the runtimes stopped and the folder removed.
 */
function controlledRuntimes(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `sagaflow-${name}-`));
  let n = 0;
  const runtimes: Runtime[] = [];
  after(async () => {
    releaseAll();
    for (const rt of runtimes) await rt.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  return async function setup(options: { mailboxLimit?: number } = {}) {
    const path = join(dir, `${name}-${++n}.db`);
    const c = controlledStore(path);
    const rt = new Runtime({ store: c.store, components: [counter], log: () => {}, ...options });
    runtimes.push(rt);
    await rt.start();
    return { rt, path, ...c };
  };
}

describe("runtime: durable before acknowledged", { timeout: 10_000 }, () => {
  const setup = controlledRuntimes("durability");

  it("a-reply-waits-for-its-commit", async () => {
    const { rt, inner, control } = await setup();
    control.hold = true;
    let replied = false;
    const call = rt.call("counter", "a", "add", { by: 5 }).then((v) => {
      replied = true;
      return v;
    });
    await until(() => control.waiting === 1, "the commit to start");
    await ticks(20);
    assert.equal(replied, false, "no reply while the commit is still in progress");
    assert.equal((await inner.readEvents("counter", "a", 0, 10)).length, 0);
    control.release();
    assert.equal(await call, 5);
    assert.equal(replied, true);
    assert.equal((await inner.readEvents("counter", "a", 0, 10)).length, 1);
  });

  it("a-failed-commit-rejects-the-call-and-keeps-nothing", async () => {
    const { rt, inner, control } = await setup();
    assert.equal(await rt.call("counter", "b", "add", { by: 2 }), 2);
    const loadsBefore = control.loads;

    control.hold = true;
    const failing = rt.call("counter", "b", "add", { by: 100 });
    await until(() => control.waiting === 1, "the commit to start");
    // Queued behind the failing turn: it must be decided against the stored state (2), not 102.
    const queued = rt.call("counter", "b", "add", { by: 1000 });
    control.hold = false;
    control.fail(new Error("disk I/O error (simulated)"));
    await assert.rejects(failing, /disk I\/O error/);
    assert.equal(await queued, 1002);
    assert.equal(control.loads, loadsBefore + 1, "the instance was read again from the store after the failure");

    assert.equal(await rt.call("counter", "b", "add", { by: 1 }), 1003);
    assert.equal(await rt.call("counter", "b", "get", {}), 1003);
    const events = await inner.readEvents("counter", "b", 0, 10);
    assert.deepEqual(
      events.map((e) => [e.seq, e.payload]),
      [
        [1, { by: 2 }],
        [2, { by: 1000 }],
        [3, { by: 1 }],
      ],
    );
  });

  it("a-failed-commit-fails-only-the-calls-of-that-batch", async () => {
    const { rt, control } = await setup();
    control.hold = true;
    const doomed = rt.call("counter", "c", "add", { by: 1 });
    await until(() => control.waiting === 1, "the commit to start");
    // Arrives while the first commit is held: it goes to the next batch.
    const later = rt.call("counter", "d", "add", { by: 4 });
    control.hold = false;
    control.fail(new Error("simulated failure"));
    await assert.rejects(doomed, /simulated failure/);
    assert.equal(await later, 4);
    assert.equal(await rt.call("counter", "c", "get", {}), 0);
  });

  it("mailbox-limit-refuses-extra-commands-with-overloaded", async () => {
    const { rt, control } = await setup({ mailboxLimit: 5 });
    control.hold = true;
    const results = Array.from({ length: 10 }, () =>
      rt.call("counter", "m", "add", { by: 1 }).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    );
    await until(() => control.waiting === 1, "the first commit to start");
    // The first command is in its turn (held at commit); five more wait in the mailbox.
    const early = await Promise.race([Promise.all(results.slice(6)), ticks(20).then(() => "pending")]);
    assert.notEqual(early, "pending", "commands past the limit are refused at once, not queued");
    for (const r of early as Awaited<(typeof results)[number]>[]) {
      assert.equal(r.ok, false);
      const error = (r as { error: unknown }).error;
      assert.ok(error instanceof SagaflowError);
      assert.equal(error.code, "overloaded");
      assert.equal(error.status, 503);
      assert.equal(error.retryable, true);
    }
    control.hold = false;
    control.release();
    const accepted = await Promise.all(results.slice(0, 6));
    assert.deepEqual(
      accepted.map((r) => r.ok && r.value),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(await rt.call("counter", "m", "get", {}), 6);
  });

  it("mailbox-limit-is-per-instance", async () => {
    const { rt, control } = await setup({ mailboxLimit: 2 });
    control.hold = true;
    const calls = ["x", "y", "z"].flatMap((id) =>
      [1, 2, 3].map(() => rt.call("counter", id, "add", { by: 1 })),
    );
    await until(() => control.waiting === 1, "the first commit to start");
    control.hold = false;
    control.release();
    const settled = await Promise.allSettled(calls);
    assert.ok(settled.every((s) => s.status === "fulfilled"), "3 calls per instance fit: 1 running + 2 waiting");
    for (const id of ["x", "y", "z"]) assert.equal(await rt.call("counter", id, "get", {}), 3);
  });
});

describe("runtime: stop", { timeout: 10_000 }, () => {
  const setup = controlledRuntimes("stop");

  it("calls-in-flight-complete-before-stop-resolves", async () => {
    const { rt, control } = await setup();
    control.hold = true;
    const settled: string[] = [];
    const calls = [
      rt.call("counter", "a", "add", { by: 1 }),
      rt.call("counter", "a", "add", { by: 1 }),
      rt.call("counter", "b", "add", { by: 5 }),
    ].map((p, i) => p.then((v) => (settled.push(`call${i}`), v)));
    await until(() => control.waiting === 1, "the first commit to start");
    let stopped = false;
    const stopping = rt.stop().then(() => {
      settled.push("stop");
      stopped = true;
    });
    await ticks(20);
    assert.equal(stopped, false, "stop waits for the held commit");
    control.hold = false;
    control.release();
    await stopping;
    assert.deepEqual(await Promise.all(calls), [1, 2, 5]);
    assert.equal(settled.at(-1), "stop", "every call settled before stop resolved");
  });

  it("calls-made-in-the-same-tick-as-stop-still-complete", async () => {
    const { rt, path } = await setup();
    const call = rt.call("counter", "same-tick", "add", { by: 9 });
    const stopping = rt.stop();
    assert.equal(await call, 9);
    await stopping;
    // The store is closed now; read the file afresh.
    const reopened = new SqliteStore({ path });
    try {
      await reopened.migrate();
      assert.equal((await reopened.readEvents("counter", "same-tick", 0, 10)).length, 1);
    } finally {
      await reopened.close();
    }
  });

  it("calls-after-stop-are-refused-with-shutting_down", async () => {
    const { rt } = await setup();
    assert.equal(await rt.call("counter", "a", "add", { by: 1 }), 1);
    await rt.stop();
    await assert.rejects(rt.call("counter", "a", "add", { by: 1 }), (error: unknown) => {
      assert.ok(error instanceof SagaflowError);
      assert.equal(error.code, "shutting_down");
      assert.equal(error.status, 503);
      assert.equal(error.retryable, true);
      return true;
    });
    await assert.rejects(rt.call("counter", "a", "get", {}), { code: "shutting_down" });
    // stop is idempotent.
    await rt.stop();
  });
});
