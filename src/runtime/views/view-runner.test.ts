import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { entity } from "../../define/entity.ts";
import { table, view } from "../../define/view.ts";
import type { FeedEntry, Store } from "../../store/port.ts";
import type {
  ParkedViewEntry, PhysicalTable, ViewGeneration, ViewMeta, ViewParkedChange, ViewQueryResult, ViewRowUpdate, ViewStore,
} from "../../store/view-port.ts";
import { until } from "../test-support.ts";
import { ViewRunner, viewMaxAttempts } from "./view-runner.ts";

/**
 * The view runner against a view store in memory, whose calls either yield to the event loop (as
 * a networked database's do) or not (as SQLite's synchronous calls do):
 * - a rebuild started while a batch is being applied to the active generation must not make the
 *   new, still empty generation the one queries read;
 * - a long catch-up (a rebuild from position 0) must not hold the event loop between batches.
 */

const counter = entity(
  "counter",
  { initial: () => ({ n: 0 }), events: { added: (s, _e: {}) => ({ n: s.n + 1 }) } },
  { commands: { add: (_s, _c: {}, fx) => fx.emit("added", {}).reply(() => ({})) } },
);

const counts = view("counts", {
  version: 1,
  tables: {
    counts: table<typeof counter, { id: string; n: number }>(counter, {
      events: { added: (row, _e, { id }) => ({ id, n: (row?.n ?? 0) + 1 }) },
    }),
  },
  queries: { all: "SELECT * FROM counts" },
});

/** Counts like `counts`, but its updater throws on an entry whose payload says `poison`. */
let cured = false;
const fussy = view("fussy", {
  version: 1,
  tables: {
    counts: table<typeof counter, { id: string; n: number; note?: string }>(counter, {
      events: {
        added: (row, e: { poison?: boolean; note?: string }, { id }) => {
          if (e.poison && !cured) throw new Error("cannot apply this one");
          return { id, n: (row?.n ?? 0) + 1, ...(e.note === undefined ? {} : { note: e.note }) };
        },
      },
    }),
  },
  queries: { all: "SELECT * FROM counts" },
});

/**
 * Counts like `counts`, but its updater returns what the entry's payload asks for: a Promise (an
 * `async` updater, one that rejects too), a string, an array, a number, a function.
 */
const careless = view("careless", {
  version: 1,
  tables: {
    counts: table<typeof counter, { id: string; n: number }>(counter, {
      events: {
        added: ((row: { n: number } | undefined, e: { returns?: string }, { id }: { id: string }) => {
          const next = { id, n: (row?.n ?? 0) + 1 };
          switch (e.returns) {
            case "promise": return Promise.resolve(next);
            case "rejecting": return Promise.reject(new Error("an async updater that throws"));
            case "string": return JSON.stringify(next);
            case "array": return [next];
            case "number": return 1;
            case "function": return () => next;
            case "null": return null;
            default: return next;
          }
        }) as never,
      },
    }),
  },
  queries: { all: "SELECT * FROM counts" },
});

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Generations and their tables in memory; `async` calls yield first when `yields` is on. */
class MemoryViews implements ViewStore {
  meta: ViewMeta | undefined;
  readonly tables = new Map<string, Map<string, unknown>>();
  readonly parked = new Map<number, ParkedViewEntry>();
  /** Rows the store refuses at commit (as PostgreSQL refuses U+0000 in jsonb). */
  refuses: ((row: unknown) => boolean) | undefined;
  private last = 0;

  constructor(private readonly yields: boolean) {}

  private async pause(): Promise<void> {
    if (this.yields) await turn();
  }

  async viewMeta(): Promise<ViewMeta | undefined> {
    await this.pause();
    return this.meta && structuredClone(this.meta);
  }

  async listViews(): Promise<ViewMeta[]> {
    return this.meta ? [structuredClone(this.meta)] : [];
  }

  async beginBuild(name: string, version: number, tables: (generation: number) => PhysicalTable[]): Promise<ViewGeneration> {
    await this.pause();
    const generation = ++this.last;
    if (this.meta?.building) for (const t of tables(this.meta.building.generation)) this.tables.delete(t.table);
    for (const t of tables(generation)) this.tables.set(t.table, new Map());
    this.meta = { name, active: this.meta?.active ?? null, building: { generation, version, offset: 0 } };
    return { generation, version, offset: 0 };
  }

  async commitView(_name: string, generation: number, offset: number, updates: ViewRowUpdate[], _fence?: unknown, parked?: ViewParkedChange): Promise<void> {
    await this.pause();
    const refused = updates.find((u) => u.row !== null && this.refuses?.(u.row));
    if (refused) throw new TypeError(`the store cannot hold row ${refused.id}`);
    for (const position of parked?.remove ?? []) this.parked.delete(position);
    for (const p of parked?.park ?? []) this.parked.set(p.position, structuredClone(p));
    for (const u of updates) {
      const rows = this.tables.get(u.table);
      if (!rows) throw new Error(`no such table ${u.table}`);
      if (u.row === null) rows.delete(u.id);
      else rows.set(u.id, u.row);
    }
    for (const g of [this.meta?.active, this.meta?.building]) if (g?.generation === generation) g.offset = Math.max(g.offset, offset);
  }

  async finishBuild(name: string, tables: (generation: number) => string[]): Promise<void> {
    await this.pause();
    if (!this.meta?.building) return;
    if (this.meta.active) for (const t of tables(this.meta.active.generation)) this.tables.delete(t);
    this.meta = { name, active: this.meta.building, building: null };
    for (const [position, p] of this.parked) if (p.generation !== this.meta.active!.generation) this.parked.delete(position);
  }

  async listViewParked(_name: string, limit: number): Promise<ParkedViewEntry[]> {
    return [...this.parked.values()].sort((a, b) => a.position - b.position).slice(0, limit);
  }

  async countViewParked(): Promise<number> {
    return this.parked.size;
  }

  async getRows(tableName: string, ids: readonly string[]): Promise<Map<string, unknown>> {
    await this.pause();
    const rows = this.tables.get(tableName) ?? new Map();
    return new Map(ids.filter((id) => rows.has(id)).map((id) => [id, rows.get(id)]));
  }

  async query(): Promise<ViewQueryResult> {
    throw new Error("not used here");
  }
}

/** A feed in memory; `onRead` runs (once) inside the next readFeed, before it returns. */
class MemoryFeed {
  readonly entries: FeedEntry[] = [];
  onRead: (() => Promise<void>) | undefined;

  constructor(private readonly yields: boolean) {}

  add(id: string, payload: unknown = {}): void {
    this.entries.push({ position: this.entries.length + 1, component: "counter", id, seq: 0, type: "added", payload, at: 0 });
  }

  get head(): number {
    return this.entries.length;
  }

  store(): Store {
    return {
      feedHead: async () => {
        if (this.yields) await turn();
        return this.head;
      },
      readFeed: async (after: number, limit: number, components?: readonly string[]) => {
        if (this.yields) await turn();
        const found = this.entries.filter((e) => e.position > after && (!components || components.includes(e.component))).slice(0, limit);
        const hook = this.onRead;
        this.onRead = undefined;
        await hook?.();
        return found;
      },
    } as unknown as Store;
  }
}

function expectedCounts(feed: MemoryFeed): Map<string, { id: string; n: number }> {
  const rows = new Map<string, { id: string; n: number }>();
  for (const e of feed.entries) rows.set(e.id, { id: e.id, n: (rows.get(e.id)?.n ?? 0) + 1 });
  return rows;
}

describe("view runner", () => {
  it("a rebuild started while a batch is applied to the active generation does not switch to the empty new one", async () => {
    const feed = new MemoryFeed(true);
    const views = new MemoryViews(true);
    for (let i = 0; i < 10; i++) feed.add(`c${i % 3}`);
    const runner = new ViewRunner(counts, { store: feed.store(), views, log: () => {}, indexes: new Map() });
    await runner.begin();
    try {
      await until("the first build", () => runner.serving?.offset === feed.head, 10_000, { everyMs: 1 });
      const first = runner.serving!.generation;

      // New entries; the rebuild is asked for while the runner is in the middle of applying them.
      feed.add("c0");
      feed.add("c9");
      let rebuilt: number | undefined;
      feed.onRead = async () => {
        rebuilt = (await runner.rebuild()).generation;
      };
      const served: ViewGeneration[] = [];
      runner.onChange(() => served.push({ ...runner.serving! }));
      runner.wake();
      await until("the rebuild", () => rebuilt !== undefined && runner.serving?.generation === rebuilt && runner.rebuilding === null, 10_000, { everyMs: 1 });

      assert.ok(rebuilt! > first);
      // Queries only ever read a complete generation: the new one once it has reached the head.
      for (const g of served) {
        assert.ok(g.generation === first || g.offset === feed.head, `served generation ${g.generation} at offset ${g.offset} of ${feed.head}`);
      }
      const rows = views.tables.get(runner.tableFor("counts")!)!;
      assert.deepEqual(new Map(rows), expectedCounts(feed));
    } finally {
      await runner.stop();
    }
  });

  it("a long rebuild leaves the event loop free between batches (a store that never yields)", async () => {
    const feed = new MemoryFeed(false);
    const views = new MemoryViews(false);
    for (let i = 0; i < 20 * 512; i++) feed.add(`c${i % 997}`);
    const runner = new ViewRunner(counts, { store: feed.store(), views, log: () => {}, indexes: new Map() });
    let ticks = 0;
    let ticking = true;
    const ticker = (async () => {
      while (ticking) {
        await turn();
        if (runner.serving === null) ticks++;
      }
    })();
    await runner.begin();
    try {
      await until("the first build", () => runner.serving?.offset === feed.head, 10_000, { everyMs: 1 });
      ticking = false;
      await ticker;
      // 20 batches: other work got turns while they were applied.
      assert.ok(ticks >= 10, `the event loop had ${ticks} turns during a 20-batch build`);
      assert.deepEqual(new Map(views.tables.get(runner.tableFor("counts")!)), expectedCounts(feed));
    } finally {
      await runner.stop();
    }
  });

  it("a stop that comes while a batch is read ends the loop at once, not after the idle poll", async () => {
    const feed = new MemoryFeed(true);
    const views = new MemoryViews(true);
    feed.add("c0");
    const runner = new ViewRunner(counts, { store: feed.store(), views, log: () => {}, indexes: new Map() });
    await runner.begin();
    await until("the first build", () => runner.serving?.offset === feed.head, 10_000, { everyMs: 1 });
    let stopped: Promise<void> | undefined;
    feed.onRead = async () => {
      stopped = runner.stop();
    };
    runner.wake();
    await until("the read", () => stopped !== undefined, 10_000, { everyMs: 1 });
    // The idle poll's timer does not keep the process alive: had the loop gone to sleep after
    // this stop, node:test would cancel the test here.
    await stopped;
    assert.equal(runner.projecting, false);
  });

  it("an entry whose updater throws is parked after a few attempts, and later entries keep being applied", async () => {
    cured = false;
    const feed = new MemoryFeed(true);
    const views = new MemoryViews(true);
    feed.add("a");
    feed.add("b", { poison: true });
    feed.add("a");
    feed.add("c");
    const runner = new ViewRunner(fussy, { store: feed.store(), views, log: () => {}, indexes: new Map() });
    await runner.begin();
    try {
      await until("the build past the poison entry", () => runner.serving?.offset === feed.head, 10_000, { everyMs: 1 });
      const rows = () => new Map(views.tables.get(runner.tableFor("counts")!));
      assert.deepEqual(rows(), new Map([["a", { id: "a", n: 2 }], ["c", { id: "c", n: 1 }]]));
      const [parked] = await runner.listParked(10);
      assert.equal(await runner.countParked(), 1);
      assert.equal(parked?.position, 2);
      assert.equal(parked?.id, "b");
      assert.equal(parked?.attempts, viewMaxAttempts);
      assert.match(parked?.error.message ?? "", /cannot apply this one/);
      // Later entries keep coming through.
      feed.add("b");
      runner.wake();
      await until("the next entry", () => runner.serving?.offset === feed.head, 10_000, { everyMs: 1 });
      assert.deepEqual(rows().get("b"), { id: "b", n: 1 });

      // A retry that fails again keeps it parked, with one more attempt.
      assert.deepEqual(await runner.retryParked(2), { applied: 0, parked: 1 });
      assert.equal((await runner.listParked(10))[0]?.attempts, viewMaxAttempts + 1);
      // Once the updater can apply it, a retry applies it on top of the rows as they are.
      cured = true;
      assert.deepEqual(await runner.retryParked(2), { applied: 1, parked: 0 });
      assert.deepEqual(rows().get("b"), { id: "b", n: 2 });
      assert.equal(await runner.countParked(), 0);
      await assert.rejects(runner.retryParked(2), /no parked entry at position 2/);
    } finally {
      await runner.stop();
    }
  });

  it("an updater that returns no row (a Promise, a string, an array, a number, a function) parks the entry, saying so", async () => {
    const feed = new MemoryFeed(true);
    const views = new MemoryViews(true);
    const returns = ["promise", "rejecting", "string", "array", "number", "function"];
    feed.add("a");
    for (const r of returns) feed.add(r, { returns: r });
    feed.add("a");
    feed.add("a", { returns: "null" });
    feed.add("b");
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    const runner = new ViewRunner(careless, { store: feed.store(), views, log: () => {}, indexes: new Map() });
    await runner.begin();
    try {
      await until("the build past the entries that return no row", () => runner.serving?.offset === feed.head, 10_000, { everyMs: 1 });
      // Nothing of theirs was stored: "a" was counted twice then deleted, "b" once.
      assert.deepEqual(new Map(views.tables.get(runner.tableFor("counts")!)), new Map([["b", { id: "b", n: 1 }]]));
      const parked = await runner.listParked(10);
      assert.deepEqual(parked.map((p) => [p.id, p.attempts, p.error.code]), returns.map((r) => [r, viewMaxAttempts, "update_failed"]));
      const messages = parked.map((p) => p.error.message);
      const where = 'the updater of view careless table counts for event "added" returned';
      assert.equal(messages[0], `${where} a Promise — updaters are synchronous (no async, no await): return the row itself`);
      assert.equal(messages[1], messages[0]);
      const notARow = "not an object (a row), null (delete the row) or undefined (leave it)";
      assert.deepEqual(messages.slice(2), [`${where} a string, ${notARow}`, `${where} an array, ${notARow}`, `${where} a number, ${notARow}`, `${where} a function, ${notARow}`]);
      await turn();
      assert.deepEqual(rejections, [], "an async updater's rejection is no unhandled rejection");
    } finally {
      process.off("unhandledRejection", onRejection);
      await runner.stop();
    }
  });

  it("a row the store refuses at commit parks the entry that made it; skip forgets it", async () => {
    cured = false;
    const feed = new MemoryFeed(true);
    const views = new MemoryViews(true);
    views.refuses = (row) => (row as { note?: string }).note === "bad";
    for (let i = 0; i < 5; i++) feed.add(`k${i}`);
    feed.add("x", { note: "bad" });
    for (let i = 0; i < 5; i++) feed.add(`k${i}`);
    const runner = new ViewRunner(fussy, { store: feed.store(), views, log: () => {}, indexes: new Map() });
    await runner.begin();
    try {
      await until("the build past the refused row", () => runner.serving?.offset === feed.head, 10_000, { everyMs: 1 });
      const rows = new Map(views.tables.get(runner.tableFor("counts")!));
      assert.equal(rows.size, 5);
      for (let i = 0; i < 5; i++) assert.deepEqual(rows.get(`k${i}`), { id: `k${i}`, n: 2 });
      assert.deepEqual((await runner.listParked(10)).map((p) => [p.position, p.id]), [[6, "x"]]);
      assert.deepEqual(await runner.skipParked(6), { applied: 0, parked: 0 });
      assert.equal(await runner.countParked(), 0);
      assert.equal(new Map(views.tables.get(runner.tableFor("counts")!)).has("x"), false);
    } finally {
      await runner.stop();
    }
  });
});
