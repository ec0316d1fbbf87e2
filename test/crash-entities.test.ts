import assert from "node:assert/strict";
import { copyFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { getJson, postJson, type JsonResponse } from "./support/http.ts";
import { between, seededRandom, seedFrom } from "./support/random.ts";
import { describeExit, SagaflowProcess, sleep, tempDir } from "./support/server-process.ts";

/**
 * Properties 1 and 3 with a real process: `sagaflow serve` on SQLite (default synchronous=FULL)
 * is SIGKILLed at random moments while 16 commands at a time stream into several entity
 * instances. Every command is `add {n}` with a unique n (a third of them with an Idempotency-Key),
 * so the instance's list of applied n says exactly which commands took effect.
 *
 * Afterwards: every acknowledged command (a 200 received) is applied, none is applied twice,
 * every command with a key (retried after a crash until acknowledged) is applied once, repeats of
 * acknowledged keyed commands return their first reply, and the SQLite file passes
 * `PRAGMA integrity_check` — after the graceful stop and in copies taken right after each kill.
 *
 * Replay a failure with the seed it prints: CRASH_SEED=<seed> node scripts/run-tests.mjs crash-entities
 * Note: SIGKILL kills the process, not the machine, so this checks "committed before replying"
 * and crash recovery; it cannot tell a missing fsync from a present one.
 */

const instances = 6;
const inFlight = 16;
const kills = 22;
const keyedEvery = 3;
const requestTimeoutMs = 5_000;

interface Command {
  n: number;
  instance: string;
  key: string | undefined;
}

/** Where the current incarnation listens; requests wait while the child is down. */
class Gate {
  private url: string | undefined;
  private waiters: Array<(url: string) => void> = [];

  open(url: string): void {
    this.url = url;
    for (const wake of this.waiters.splice(0)) wake(url);
  }

  close(): void {
    this.url = undefined;
  }

  get(): Promise<string> {
    return this.url !== undefined ? Promise.resolve(this.url) : new Promise((wake) => this.waiters.push(wake));
  }
}

function integrityOf(path: string): string {
  const db = new Database(path, { fileMustExist: true });
  try {
    return (db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join("; ");
  } finally {
    db.close();
  }
}

/** Copies the database as the killed child left it (with its WAL) and checks the copy. */
function integrityOfCrashImage(dbPath: string, scratch: string, index: number): string {
  const copy = join(scratch, `crash-${index}.db`);
  for (const suffix of ["", "-wal"]) {
    if (existsSync(dbPath + suffix)) copyFileSync(dbPath + suffix, copy + suffix);
  }
  try {
    return integrityOf(copy);
  } finally {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(copy + suffix, { force: true });
  }
}

describe("entities survive SIGKILL (real process, SQLite)", () => {
  const scratch = tempDir("sagaflow-crash-scratch-");
  let server: SagaflowProcess | undefined;
  after(async () => {
    await server?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("acknowledged commands are applied exactly once across 22 SIGKILLs, and the file stays intact", async () => {
    const seed = seedFrom("CRASH_SEED");
    const random = seededRandom(seed);
    const started = Date.now();
    const label = `(seed ${seed})`;

    server = await SagaflowProcess.start({ target: "test/fixtures/counters" });
    const gate = new Gate();
    gate.open(server.url);

    const sent = new Map<number, Command>();
    const acked = new Map<number, { command: Command; reply: unknown }>();
    const unknown = new Set<number>(); // no answer: may or may not be applied
    const retry: Command[] = []; // keyed commands without an answer: sent again with their key
    const unexpected: string[] = [];
    let nextN = 1;
    let stopping = false;

    const send = async (url: string, command: Command): Promise<JsonResponse | undefined> => {
      try {
        return await postJson(
          `${url}/tally/${command.instance}/add`,
          { n: command.n },
          command.key === undefined ? {} : { "idempotency-key": command.key },
          requestTimeoutMs,
        );
      } catch {
        return undefined; // connection refused or reset, or timed out: the outcome is unknown
      }
    };

    const worker = async () => {
      for (;;) {
        const url = await gate.get();
        if (stopping) return;
        let command = retry.shift();
        if (command === undefined) {
          const n = nextN++;
          command = { n, instance: `t${n % instances}`, key: n % keyedEvery === 0 ? `add-${n}` : undefined };
          sent.set(n, command);
        }
        const res = await send(url, command);
        if (res === undefined) {
          if (command.key !== undefined) retry.push(command);
          else unknown.add(command.n);
        } else if (res.status === 200 && typeof res.body?.count === "number") {
          acked.set(command.n, { command, reply: res.body });
          unknown.delete(command.n);
        } else {
          unexpected.push(`add ${command.n}: ${res.status} ${res.text}`);
        }
      }
    };
    const workers = Array.from({ length: inFlight }, () => worker());

    const ackedPerRun: number[] = [];
    for (let kill = 0; kill < kills; kill++) {
      const before = acked.size;
      await sleep(between(random, 50, 300));
      gate.close();
      const exit = await server.kill("SIGKILL");
      assert.equal(exit.signal, "SIGKILL", `kill ${kill} ${label}: the child ended by itself (${describeExit(exit)}):\n${server.output()}`);
      ackedPerRun.push(acked.size - before);
      const integrity = integrityOfCrashImage(server.dbPath, scratch, kill);
      assert.equal(integrity, "ok", `kill ${kill} ${label}: the crash image is damaged`);
      await server.start();
      gate.open(server.url);
    }
    stopping = true;
    await Promise.all(workers);
    assert.deepEqual(unexpected, [], `unexpected replies ${label}`);

    // Keyed commands that got no answer are retried with their key until they are acknowledged.
    while (retry.length > 0) {
      const batch = retry.splice(0, inFlight);
      await Promise.all(
        batch.map(async (command) => {
          const res = await send(server!.url, command);
          assert.equal(res?.status, 200, `retry of add ${command.n} ${label}: ${res?.text}`);
          acked.set(command.n, { command, reply: res.body });
        }),
      );
    }

    // Repeats of acknowledged keyed commands return their first reply and change nothing.
    const keyedAcked = [...acked.values()].filter((a) => a.command.key !== undefined);
    const repeats = keyedAcked.filter((_, i) => i % Math.max(1, Math.floor(keyedAcked.length / 40)) === 0);
    await Promise.all(
      repeats.map(async ({ command, reply }) => {
        const res = await send(server!.url, command);
        assert.equal(res?.status, 200, `repeat of add ${command.n} ${label}: ${res?.text}`);
        assert.deepEqual(res.body, reply, `repeat of add ${command.n} ${label} answered differently`);
      }),
    );

    // What each instance applied, as the (many times recovered) service reports it.
    const applied = new Map<string, number[]>();
    for (let i = 0; i < instances; i++) {
      const res: JsonResponse = await getJson(`${server.url}/tally/t${i}/applied`);
      assert.equal(res.status, 200, res.text);
      applied.set(`t${i}`, res.body.applied);
    }

    const stopped = await server.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, `graceful stop ${label}:\n${server.output()}`);

    const seen = new Map<number, string>();
    for (const [instance, list] of applied) {
      for (const n of list) {
        assert.ok(!seen.has(n), `add ${n} applied twice (${seen.get(n)} and ${instance}) ${label}`);
        seen.set(n, instance);
        assert.equal(sent.get(n)?.instance, instance, `add ${n} applied to ${instance}, but it was never sent there ${label}`);
      }
    }
    for (const [n, { command }] of acked) {
      assert.equal(seen.get(n), command.instance, `acknowledged add ${n} is missing from ${command.instance} ${label}`);
    }
    for (const command of sent.values()) {
      if (command.key !== undefined) assert.ok(seen.has(command.n), `keyed add ${command.n} never applied ${label}`);
    }

    // The file itself: intact, and its events say the same as the service.
    assert.equal(integrityOf(server.dbPath), "ok", `integrity_check ${label}`);
    const db = new Database(server.dbPath, { readonly: true, fileMustExist: true });
    try {
      const rows = db
        .prepare("SELECT id, seq, json_extract(payload, '$.n') AS n FROM events WHERE component = 'tally' ORDER BY id, seq")
        .all() as Array<{ id: string; seq: number; n: number }>;
      const stored = new Map<string, number[]>();
      for (const row of rows) {
        const list = stored.get(row.id) ?? [];
        assert.equal(row.seq, list.length + 1, `${row.id}: event seq ${row.seq} out of order ${label}`);
        list.push(row.n);
        stored.set(row.id, list);
      }
      for (const [instance, list] of applied) assert.deepEqual(stored.get(instance) ?? [], list, `${instance}: events differ ${label}`);
    } finally {
      db.close();
    }

    const appliedUnknown = [...unknown].filter((n) => seen.has(n)).length;
    const idleRuns = ackedPerRun.filter((count) => count === 0).length;
    console.log(
      `crash-entities ${label}: ${sent.size} sent, ${acked.size} acknowledged, ${unknown.size} unkeyed without answer ` +
        `(${appliedUnknown} of them applied), ${repeats.length} keyed repeats checked, ${kills} kills ` +
        `(${idleRuns} runs acknowledged nothing), ${Date.now() - started} ms`,
    );
    // The load really ran while the child was being killed: most runs acknowledged something, and
    // a floor, not a rate (on a VM slowed fivefold one run acknowledged 470; with a second test
    // run loading both cores, 219 in 16 of 22 runs, every exactly-once check above passing).
    assert.ok(acked.size >= 100, `only ${acked.size} commands acknowledged ${label}`);
    assert.ok(idleRuns <= kills / 2, `${idleRuns} of ${kills} runs acknowledged nothing ${label}`);
  });
});
