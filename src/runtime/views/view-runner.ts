import type { ViewDefinition } from "../../define/view.ts";
import type { FeedEntry, Store } from "../../store/port.ts";
import { LeaseLostError, type Fence } from "../../store/cluster-port.ts";
import { SagaflowError } from "../../define/errors.ts";
import { physicalTable, type ParkedViewEntry, type PhysicalTable, type ViewGeneration, type ViewStore } from "../../store/view-port.ts";
import { WakeSignal } from "../wake-signal.ts";
import { isStoreUnavailable } from "../../define/errors.ts";
import type { Observer } from "../../observe/observer.ts";
import { applyEntries, parkedEntry } from "./view-apply.ts";
import { applySeed, currentStates, seedingOf, statesRemoved, type Seeding } from "./view-seeding.ts";

export interface ViewHost {
  store: Store;
  views: ViewStore;
  log: (line: string) => void;
  /** Field paths to index, per table of this view (derived from its queries). */
  indexes: Map<string, string[][]>;
  /** Traces each batch applied. */
  observer?: Observer;
}

const batchSize = 512;
const idlePollMs = 1_000;
const retryAfterErrorMs = 1_000;
/** Attempts at one feed entry before the view parks it and moves on. */
export const viewMaxAttempts = 3;
/** Wait between attempts at one entry (times the attempt number). */
const entryRetryMs = 200;
/** A node that does not project a view re-reads its offset at most this often when woken. */
const followGapMs = 20;

/**
 * Where a rebuild starts from. `feed`: every entry of the feed from position 0. `current`: the
 * tables fed by key-value entities and workflows are first seeded from each instance's current
 * state, then the whole feed is replayed (for when retention removed states the feed alone would
 * lack; each instance still ends at its latest state, since retention removes oldest first).
 */
export type RebuildFrom = "feed" | "current";

/**
 * Keeps one view up to date: reads its sources' feed entries after the offset, runs the table
 * updaters, and commits the rows with the new offset in one transaction. A rebuild fills a new
 * generation from position 0 while queries are still served from the active one, then switches.
 */
export class ViewRunner {
  private active: ViewGeneration | null = null;
  private building: ViewGeneration | null = null;
  private running = false;
  /** Another node projects this view; this one re-reads where it stands, to serve queries. */
  private following = false;
  /** Stopped for good (the runtime stops): a lease given up afterwards must not start it following again. */
  private closed = false;
  /** The view's lease while this node projects it (several nodes). */
  private fence: Fence | undefined;
  private loop: Promise<void> | undefined;
  private readonly wakeSignal = new WakeSignal();
  private readonly listeners = new Set<() => void>();
  /** The last updater failure, shown to operators until the view moves on. */
  lastError: string | undefined;
  private readonly sources: string[];
  /**
   * A batch failed: entries up to this position are applied one at a time, so that the one that
   * fails is known (an updater's throw, or a row the store refuses at commit) and can be parked.
   */
  private suspect: { generation: number; until: number } | undefined;
  /** Failed attempts at the entry being applied alone (position → attempts). */
  private readonly attempts = new Map<number, number>();
  /** Serialises batches and operator actions on parked entries (both write rows). */
  private lock: Promise<unknown> = Promise.resolve();
  /** Seeding the building generation from current state, before it replays the feed. */
  private seeding: Seeding | undefined;

  constructor(
    readonly definition: ViewDefinition,
    private readonly host: ViewHost,
  ) {
    this.sources = [...new Set(Object.values(definition.tables).map((t) => t.source.name))];
  }

  /** Projects the view from here on (on several nodes: this node holds its lease, with `fence`). */
  async begin(fence?: Fence): Promise<void> {
    await this.stop();
    if (this.closed) return;
    this.fence = fence;
    await this.refresh();
    const current = this.building ?? this.active;
    this.running = true;
    // A seeding this node left when it last lost the lease is not resumed: another node may have finished it.
    this.seeding = undefined;
    if (!current || current.version !== this.definition.version) {
      // No operator to ask: a build the feed alone cannot make right starts from current state.
      const removed = await statesRemoved(this.definition, this.host.store);
      await this.startBuild(removed === undefined ? "feed" : "current");
      if (removed !== undefined) this.host.log(`sagaflow: view ${this.definition.name}: ${removed}; building it from the entities' current state`);
    } else if (this.building && this.building.offset === 0 && (await statesRemoved(this.definition, this.host.store)) !== undefined) {
      // A build stopped before its seeding was surely done (it ends before the offset moves): seed again.
      this.seeding = seedingOf(this.definition, this.building);
    } else {
      // Its offset is behind what retention removed: the view was out of the code (retention
      // waits only for views it knows) and is back. Reading on would miss states for good.
      const missed = await statesRemoved(this.definition, this.host.store, current.offset);
      if (missed !== undefined) {
        await this.startBuild("current");
        this.host.log(`sagaflow: view ${this.definition.name}: it stands at position ${current.offset}, but ${missed}; building it again from the entities' current state`);
      }
    }
    this.loop = this.run();
  }

  /** Serves queries while another node projects the view: follows its offset in the store. */
  async follow(): Promise<void> {
    await this.stop();
    if (this.closed) return;
    await this.refresh();
    this.following = true;
    this.loop = this.followLoop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.following = false;
    this.wakeSignal.wake();
    await this.loop;
  }

  /** Stops for good: nothing starts it again (the runtime's stop, before the store closes). */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }

  /** Whether this node projects the view now. */
  get projecting(): boolean {
    return this.running;
  }

  /** Reads the generations from the store; tells listeners when the served one moved. */
  async refresh(): Promise<void> {
    const meta = await this.host.views.viewMeta(this.definition.name);
    const before = this.active;
    this.active = meta?.active ?? null;
    this.building = meta?.building ?? null;
    if (before?.generation !== this.active?.generation || before?.offset !== this.active?.offset) {
      for (const listener of this.listeners) listener();
    }
  }

  private async followLoop(): Promise<void> {
    while (this.following) {
      try {
        await this.refresh();
      } catch (error) {
        this.host.log(`sagaflow: view ${this.definition.name}: ${String(error)}`);
      }
      await this.wakeSignal.sleep(idlePollMs);
      if (this.following) await new Promise((resolve) => setTimeout(resolve, followGapMs));
    }
  }

  wake(): void {
    this.wakeSignal.wake();
  }

  /** The generation queries read; undefined until the first build has caught up. */
  get serving(): ViewGeneration | null {
    return this.active;
  }

  get rebuilding(): ViewGeneration | null {
    return this.building;
  }

  /** Called after every commit of this view (queries streaming over SSE listen here). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts filling a new generation: from the start of the feed, or (`current`) seeded from the
   * entities' current state first. A build from the feed that needs states retention removed is
   * refused (409 `feed_entries_removed`), changing nothing: it would lack what was removed.
   */
  async rebuild(from: RebuildFrom = "feed"): Promise<ViewGeneration> {
    if (!this.running) {
      throw new SagaflowError(
        "not_here",
        `view "${this.definition.name}" is projected by another node: send this to the node holding lease view/${this.definition.name} (see \`sagaflow nodes\`)`,
        { status: 409 },
      );
    }
    if (from === "feed") {
      const removed = await statesRemoved(this.definition, this.host.store);
      if (removed !== undefined) {
        throw new SagaflowError(
          "feed_entries_removed",
          `view "${this.definition.name}" cannot be rebuilt from the feed: ${removed}. Rebuild it from the entities' current state: ` +
            `POST /views/${this.definition.name}/rebuild?from=current (sagaflow views rebuild ${this.definition.name} --from current)`,
          { status: 409 },
        );
      }
    }
    return this.startBuild(from);
  }

  private async startBuild(from: RebuildFrom): Promise<ViewGeneration> {
    const { name, version } = this.definition;
    const building = await this.host.views.beginBuild(name, version, (generation) => this.tables(generation), this.fence);
    this.building = building;
    this.seeding = from === "current" ? seedingOf(this.definition, building) : undefined;
    this.wake();
    return building;
  }

  /**
   * Seeds one page of the building generation from current state: each instance's record as the
   * feed entry of its latest state would carry it (position 0: the entry itself may be gone).
   * The generation's offset stays at 0, so the whole feed is replayed on top afterwards.
   */
  private async seedPage(target: ViewGeneration, seeding: Seeding): Promise<boolean> {
    const source = seeding.sources[seeding.index];
    if (!source) {
      this.seeding = undefined;
      this.host.log(`sagaflow: view ${this.definition.name}: seeded generation ${target.generation} from current state; replaying the feed`);
      return true;
    }
    const entries = await currentStates(this.host.store, source, seeding.afterId, batchSize);
    if (entries.length > 0) {
      await this.host.views.commitView(this.definition.name, target.generation, target.offset, await applySeed(this.definition, this.host, target.generation, entries), this.fence);
      seeding.afterId = entries.at(-1)!.id;
    }
    if (entries.length < batchSize) {
      seeding.index++;
      seeding.afterId = "";
    }
    return true;
  }

  /** Physical table names of this view's tables in the generation queries read. */
  tableFor(table: string): string | undefined {
    return this.active ? physicalTable(this.definition.name, table, this.active.generation) : undefined;
  }

  private tables(generation: number): PhysicalTable[] {
    return Object.keys(this.definition.tables).map((table) => ({
      table: physicalTable(this.definition.name, table, generation),
      indexes: this.host.indexes.get(table) ?? [],
    }));
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const moved = await this.exclusive(() => this.step());
        // The store's calls may not yield (SQLite is synchronous): between batches, let requests,
        // commits and other runners in, or a long catch-up (a rebuild) holds the event loop.
        if (moved) await new Promise<void>((resolve) => setImmediate(resolve));
        else await this.wakeSignal.sleep(idlePollMs);
      } catch (error) {
        if (error instanceof LeaseLostError) {
          // Another node projects the view now; serve queries from what it writes.
          this.host.log(`sagaflow: view ${this.definition.name}: ${error.message}; following`);
          this.running = false;
          this.following = !this.closed;
          if (this.following) this.loop = this.followLoop();
          return;
        }
        this.lastError = error instanceof Error ? error.message : String(error);
        this.host.log(`sagaflow: view ${this.definition.name}: ${this.lastError}; retrying`);
        const tries = Math.max(0, ...this.attempts.values());
        await this.wakeSignal.sleep(tries > 0 ? entryRetryMs * tries : this.suspect ? entryRetryMs : retryAfterErrorMs);
      }
    }
  }

  /** Applies one batch; false when there was nothing to do. */
  private async step(): Promise<boolean> {
    const target = this.building ?? this.active;
    if (!target) return false;
    const seeding = this.seeding;
    if (seeding && target === this.building && seeding.generation === target.generation) return this.seedPage(target, seeding);
    // Read the head first: every entry at or below it is visible now, so an offset can move
    // up to it even when none of them belongs to this view's sources.
    const head = await this.host.store.feedHead();
    const alone = this.suspect !== undefined && this.suspect.generation === target.generation && target.offset < this.suspect.until;
    const limit = alone ? 1 : batchSize;
    const entries = await this.host.store.readFeed(target.offset, limit, this.sources);
    const caughtUp = entries.length < limit;
    const offset = caughtUp ? Math.max(head, entries.at(-1)?.position ?? 0) : entries.at(-1)!.position;
    // A rebuild may begin while this batch is applied to the active generation (when the store's
    // calls yield): only the generation this step filled may be switched to.
    if (offset <= target.offset) {
      if (target === this.building && caughtUp) await this.switchToBuilt();
      return false;
    }
    try {
      const update = async () => {
        const updates = await applyEntries(this.definition, this.host.views, target.generation, entries);
        await this.host.views.commitView(this.definition.name, target.generation, offset, updates, this.fence);
      };
      await (this.host.observer && entries.length > 0 ? this.host.observer.viewUpdate(this.definition.name, entries, update) : update());
      this.attempts.clear();
    } catch (error) {
      if (error instanceof LeaseLostError || isStoreUnavailable(error) || entries.length === 0) throw error;
      if (!alone) {
        // Find the entry at fault: apply this batch's entries one by one.
        this.suspect = { generation: target.generation, until: entries.at(-1)!.position };
        throw error;
      }
      const entry = entries[0]!;
      const attempts = (this.attempts.get(entry.position) ?? 0) + 1;
      this.attempts.clear();
      this.attempts.set(entry.position, attempts);
      if (attempts < viewMaxAttempts) throw error;
      await this.park(target.generation, offset, entry, error, attempts);
    }
    target.offset = offset;
    this.lastError = undefined;
    if (target === this.building && caughtUp) await this.switchToBuilt();
    if (target === this.active) for (const listener of this.listeners) listener();
    return true;
  }

  /** Moves the generation past an entry it cannot apply, recording it as parked (one transaction). */
  private async park(generation: number, offset: number, entry: FeedEntry, error: unknown, attempts: number): Promise<void> {
    const parked = parkedEntry(this.definition.name, generation, entry, error, attempts);
    await this.host.views.commitView(this.definition.name, generation, offset, [], this.fence, { park: [parked] });
    this.attempts.clear();
    this.host.log(`sagaflow: view ${this.definition.name}: parked the entry at position ${entry.position} after ${attempts} attempts: ${parked.error.message}`);
  }

  /** The view's parked entries, by position. */
  listParked(limit: number): Promise<ParkedViewEntry[]> {
    return this.host.views.listViewParked(this.definition.name, limit);
  }

  /** How many entries this view has parked. */
  countParked(): Promise<number> {
    return this.host.views.countViewParked(this.definition.name);
  }

  /**
   * Applies a parked entry again, to the generation it was parked in, on top of the rows as they
   * are now (later entries are applied already: an updater that depends on order sees them).
   * Applied: the parked record goes, with the rows, in one transaction; failed again: it stays,
   * with one more attempt and the new error.
   */
  retryParked(position: number): Promise<{ applied: number; parked: number }> {
    this.checkProjectingHere();
    return this.exclusive(async () => {
      const { parked, generation } = await this.findParked(position);
      const [entry] = (await this.host.store.readFeed(position - 1, 1, [parked.component])).filter((e) => e.position === position);
      if (!entry) throw new SagaflowError("not_found", `the feed has no entry at position ${position} any more; skip it`, { status: 404 });
      const offset = generation.offset;
      try {
        const updates = await applyEntries(this.definition, this.host.views, generation.generation, [entry]);
        await this.host.views.commitView(this.definition.name, generation.generation, offset, updates, this.fence, { remove: [position] });
      } catch (error) {
        if (error instanceof LeaseLostError || isStoreUnavailable(error)) throw error;
        const again = parkedEntry(this.definition.name, generation.generation, entry, error, parked.attempts + 1);
        await this.host.views.commitView(this.definition.name, generation.generation, offset, [], this.fence, { park: [again] });
        return { applied: 0, parked: 1 };
      }
      if (generation === this.active) for (const listener of this.listeners) listener();
      return { applied: 1, parked: 0 };
    });
  }

  /** Forgets a parked entry: the view stays without it. */
  skipParked(position: number): Promise<{ applied: number; parked: number }> {
    this.checkProjectingHere();
    return this.exclusive(async () => {
      const { generation } = await this.findParked(position);
      await this.host.views.commitView(this.definition.name, generation.generation, generation.offset, [], this.fence, { remove: [position] });
      return { applied: 0, parked: 0 };
    });
  }

  private async findParked(position: number): Promise<{ parked: ParkedViewEntry; generation: ViewGeneration }> {
    const all = await this.host.views.listViewParked(this.definition.name, 1_000_000);
    const parked = all.find((p) => p.position === position);
    if (!parked) throw new SagaflowError("not_found", `view "${this.definition.name}" has no parked entry at position ${position}`, { status: 404 });
    const generation = [this.active, this.building].find((g) => g?.generation === parked.generation);
    if (!generation) {
      throw new SagaflowError("stale_generation", `the entry was parked in generation ${parked.generation}, which is no longer served or built; skip it`, { status: 409 });
    }
    return { parked, generation };
  }

  /** Parked entries are acted on by the node that projects the view (it writes the rows). */
  private checkProjectingHere(): void {
    if (this.running) return;
    throw new SagaflowError(
      "not_here",
      `view "${this.definition.name}" is projected by another node: send this to the node holding lease view/${this.definition.name} (see \`sagaflow nodes\`)`,
      { status: 409 },
    );
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.lock.then(work);
    this.lock = result.catch(() => {});
    return result;
  }

  private async switchToBuilt(): Promise<void> {
    await this.host.views.finishBuild(this.definition.name, (generation) => this.tables(generation).map((t) => t.table), this.fence);
    this.active = this.building;
    this.building = null;
    for (const listener of this.listeners) listener();
  }
}
