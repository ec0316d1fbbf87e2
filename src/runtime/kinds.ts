import type { EntityDefinition } from "../define/entity.ts";
import type { KeyValueDefinition } from "../define/key-value.ts";
import type { Principal } from "../define/access.ts";
import type { DedupRecord, InstanceWrite, KvRecord, NewEvent, Store } from "../store/port.ts";
import type { SignalledEvent } from "../store/cluster-port.ts";
import { decode } from "../store/rows.ts";
import type { EagerPrefix } from "./held-writes.ts";
import { decideEntity, decideKeyValue, foldEvents, type Current, type Decision } from "./decide.ts";
import { freezeState, frozenDecision } from "./frozen-state.ts";

/** What another node's commit did to an instance, as its signal said (SignalledInstance). */
export interface HeardChange {
  version: number;
  events?: readonly SignalledEvent[] | undefined;
}

/** Whether a copy at `loaded` includes the commit that made `change`. */
const includes = (loaded: Loaded, change: HeardChange): boolean => change.version <= loaded.version;

/** An instance as loaded or last committed: `version` is the entity's seq or the key-value version. */
export interface Loaded extends Current {
  version: number;
}

/** The event that records an entity's deletion in its log (handlers never see it). */
export const deletedEventType = "$deleted";

/**
 * A step of a workflow's eager start, run on the record before it is committed (see Kind.eagerStep).
 * `handsOver`: run by a node that does not run the workflow's bucket. It may commit only with the
 * start, which creates the workflow (so no node can have run it yet): once the start is durable,
 * the bucket's holder runs whatever is left.
 */
export type EagerStep = ((current: Current, prefix: EagerPrefix) => Promise<Decision>) & { readonly handsOver?: boolean };

/** What differs between component kinds in the command path: loading, deciding, writing. */
export interface Kind {
  load(store: Store, id: string): Promise<Loaded>;
  /**
   * `loaded` brought up to what the store holds (another node may have written the instance since):
   * `loaded` itself when nothing changed, else the stored version, read as cheaply as the kind
   * allows (one read: an entity's events after `loaded`, not its snapshot and whole tail again).
   */
  refresh(store: Store, id: string, loaded: Loaded): Promise<Loaded>;
  /** `principal`: who called over HTTP, when a token said so (handlers see it as `fx.principal`). */
  /** `trace`: the command span's W3C traceparent, when tracing (a workflow's start keeps it in the record). */
  decide(current: Current, handler: string, input: unknown, isQuery: boolean, id: string, principal?: Principal, trace?: string): Decision;
  write(
    id: string,
    before: Loaded,
    after: Current,
    events: NewEvent[],
    dedup: DedupRecord[],
    notes: string[],
  ): InstanceWrite;
  /** The version after `write` commits. */
  versionAfter(before: Loaded, events: NewEvent[], after: Current): number;
  /**
   * Whether a workflow step's call may hold this kind's write until the step's transition commits
   * it (entities and key-value entities; not workflows, whose commits schedule their own steps).
   */
  holdable?: boolean;
  /**
   * The instance as never stored, for a command that mostly meets a new one (a workflow's start):
   * the turn decides on it without reading the store. Only a turn that then writes the record
   * keeps that decision, since its commit expects no stored record and is a conflict if there is
   * one; then, or when the turn would write nothing, it reads and decides again.
   */
  presumeNew?(handler: string): Loaded | undefined;
  /**
   * A workflow started with `eagerStart`: the step due on `current` (the started record, or what
   * the previous eager step left), to run before the start is committed and commit with it
   * (startWithSteps in ./eager-start.ts); undefined when none may. `prefix.commit()` commits what came
   * before alone; the step awaits it before anything of its own would be durable.
   */
  eagerStep?(id: string, current: Current): EagerStep | undefined;
  /** Told after every commit of an instance (workflows schedule their next step here). */
  afterCommit?(id: string, committed: Loaded): void;
  /**
   * Whether the instance as committed will never change again (a workflow ended or terminated):
   * the cache then drops it before any instance that may still be used (see InstanceDispatcher.evict).
   */
  lasting?(committed: Loaded): boolean;
  /**
   * Another node's commit left the instance at `change.version` (with what changed, when it was
   * small: SignalledInstance): "current" when `loaded` includes that commit, the copy brought up to
   * date when what changed allows, undefined when it cannot tell (the copy is then behind).
   */
  heard?(loaded: Loaded, change: HeardChange): Loaded | "current" | undefined;
}

/** How many newer events a cached entity is brought up to date with; further behind, it is loaded again. */
const refreshLimit = 64;
/** Events read a page at a time when an instance is folded again from its first event. */
const replayPage = 1_000;

function entityKind(definition: EntityDefinition, defaultSnapshotEvery: number): Kind {
  const snapshotEvery = definition.snapshotEvery ?? defaultSnapshotEvery;
  const logged = (before: Loaded, after: Current, events: NewEvent[]): NewEvent[] =>
    after.deleted && !before.deleted ? [...events, { type: deletedEventType, payload: null }] : events;
  /** `events` (the ones after `from`, in seq order, up to `version`) applied to it; a deletion marker among them leaves it deleted. */
  const applied = (from: Loaded, events: readonly NewEvent[], version: number): Loaded => {
    const live = events.filter((e) => e.type !== deletedEventType);
    return {
      state: freezeState(foldEvents(definition, from.state, live)),
      deleted: from.deleted || live.length !== events.length,
      version,
    };
  };
  const stateVersion = definition.stateVersion ?? 0;
  const load = async (store: Store, id: string): Promise<Loaded> => {
    const { snapshot, events } = await store.loadHistory(definition.name, id);
    // A snapshot folded under another stateVersion is not this code's state: fold every event again.
    if (snapshot && snapshot.stateVersion !== stateVersion) return foldedFromStart(store, id);
    const base = snapshot ? { state: snapshot.state, deleted: false, version: snapshot.seq } : { state: definition.initial(), deleted: false, version: 0 };
    return applied(base, events, events.at(-1)?.seq ?? base.version);
  };
  const foldedFromStart = async (store: Store, id: string): Promise<Loaded> => {
    let loaded: Loaded = { state: definition.initial(), deleted: false, version: 0 };
    for (;;) {
      const page = await store.readEvents(definition.name, id, loaded.version, replayPage);
      if (page.length === 0) return loaded;
      loaded = applied(loaded, page, page.at(-1)!.seq);
    }
  };
  return {
    holdable: true,
    load,
    async refresh(store, id, loaded) {
      const newer = await store.readEvents(definition.name, id, loaded.version, refreshLimit);
      if (newer.length === 0) return loaded;
      // Far behind, or events missing (pruned): the snapshot and its tail are the read to make.
      const follows = newer[0]!.seq === loaded.version + 1 && newer.at(-1)!.seq === loaded.version + newer.length;
      return follows && newer.length < refreshLimit ? applied(loaded, newer, newer.at(-1)!.seq) : load(store, id);
    },
    heard(loaded, change) {
      if (includes(loaded, change)) return "current";
      const { events } = change;
      if (events === undefined || loaded.version + events.length !== change.version) return undefined;
      try {
        return applied(loaded, events.map(([type, payload]) => ({ type, payload: decode(payload) })), change.version);
      } catch {
        return undefined; // an event this version cannot apply (a newer node's type): read it instead
      }
    },
    decide: (current, handler, input, isQuery, _id, principal) =>
      frozenDecision(definition.name, handler, () => decideEntity(definition, current, handler, input, isQuery, principal)),
    write(id, before, after, events, dedup) {
      const append = logged(before, after, events);
      const seq = before.version + append.length;
      // A snapshot when this turn crosses a multiple of snapshotEvery; never at a deletion, so
      // the deletion marker always stays among the events after the latest snapshot.
      const crosses = Math.floor(seq / snapshotEvery) > Math.floor(before.version / snapshotEvery);
      const snapshot = crosses && !after.deleted ? { seq, state: after.state, stateVersion } : undefined;
      return {
        component: definition.name,
        id,
        events: { expectedSeq: before.version, append, ...(snapshot ? { snapshot } : {}) },
        dedup,
      };
    },
    versionAfter: (before, events, after) => before.version + logged(before, after, events).length,
  };
}

function keyValueKind(definition: KeyValueDefinition): Kind {
  const loadedFrom = (record: KvRecord | undefined): Loaded =>
    record
      ? { state: freezeState(record.deleted ? definition.initial() : record.state), deleted: record.deleted, version: record.version }
      : { state: freezeState(definition.initial()), deleted: false, version: 0 };
  return {
    holdable: true,
    load: async (store, id) => loadedFrom(await store.loadKv(definition.name, id)),
    async refresh(store, id, loaded) {
      const record = await store.loadKv(definition.name, id);
      return (record?.version ?? 0) === loaded.version ? loaded : loadedFrom(record);
    },
    heard(loaded, change) {
      if (includes(loaded, change)) return "current";
      const [written, ...more] = change.events ?? [];
      if (written === undefined || more.length > 0) return undefined;
      const [type, payload] = written;
      if (type !== "$state" && type !== "$deleted") return undefined;
      try {
        return loadedFrom({ version: change.version, deleted: type === "$deleted", state: type === "$deleted" ? undefined : decode(payload) });
      } catch {
        return undefined; // not JSON: read it instead
      }
    },
    decide: (current, handler, input, isQuery, _id, principal) =>
      frozenDecision(definition.name, handler, () => decideKeyValue(definition, current, handler, input, isQuery, principal)),
    write(id, before, after, _events, dedup) {
      const changed = after.state !== before.state || after.deleted !== before.deleted;
      return {
        component: definition.name,
        id,
        ...(changed
          ? { kv: { expectedVersion: before.version, state: after.state, deleted: after.deleted } }
          : {}),
        dedup,
      };
    },
    versionAfter: (before, _events, after) =>
      after.state !== before.state || after.deleted !== before.deleted ? before.version + 1 : before.version,
  };
}

/** The kind of an entity or key-value entity (workflows get theirs from the workflow engine). */
export function kindOf(component: EntityDefinition | KeyValueDefinition, defaultSnapshotEvery: number): Kind {
  return component.kind === "entity"
    ? entityKind(component, defaultSnapshotEvery)
    : keyValueKind(component);
}
