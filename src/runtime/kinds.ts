import type { EntityDefinition } from "../define/entity.ts";
import type { KeyValueDefinition } from "../define/key-value.ts";
import type { Principal } from "../define/access.ts";
import type { DedupRecord, InstanceWrite, NewEvent, Store } from "../store/port.ts";
import type { EagerPrefix } from "./held-writes.ts";
import { decideEntity, decideKeyValue, foldEvents, type Current, type Decision } from "./decide.ts";

/** An instance as loaded or last committed: `version` is the entity's seq or the key-value version. */
export interface Loaded extends Current {
  version: number;
}

/** The event that records an entity's deletion in its log (handlers never see it). */
export const deletedEventType = "$deleted";

/** What differs between component kinds in the command path: loading, deciding, writing. */
/** A step of a workflow's eager start, run on the record before it is committed (see Kind.eagerStep). */
export type EagerStep = (current: Current, prefix: EagerPrefix) => Promise<Decision>;

export interface Kind {
  load(store: Store, id: string): Promise<Loaded>;
  /** Whether the store holds a newer version than `loaded` (another node wrote the instance). */
  isStale(store: Store, id: string, loaded: Loaded): Promise<boolean>;
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
}

function entityKind(definition: EntityDefinition, defaultSnapshotEvery: number): Kind {
  const snapshotEvery = definition.snapshotEvery ?? defaultSnapshotEvery;
  const logged = (before: Loaded, after: Current, events: NewEvent[]): NewEvent[] =>
    after.deleted && !before.deleted ? [...events, { type: deletedEventType, payload: null }] : events;
  return {
    holdable: true,
    async load(store, id) {
      const history = await store.loadHistory(definition.name, id);
      const snapshot = history.snapshot;
      const live = history.events.filter((e) => e.type !== deletedEventType);
      const deleted = live.length !== history.events.length;
      const base = snapshot ? snapshot.state : definition.initial();
      const version = history.events.at(-1)?.seq ?? snapshot?.seq ?? 0;
      return { state: foldEvents(definition, base, live), deleted, version };
    },
    isStale: async (store, id, loaded) => (await store.readEvents(definition.name, id, loaded.version, 1)).length > 0,
    decide: (current, handler, input, isQuery, _id, principal) =>
      decideEntity(definition, current, handler, input, isQuery, principal),
    write(id, before, after, events, dedup) {
      const append = logged(before, after, events);
      const seq = before.version + append.length;
      // A snapshot when this turn crosses a multiple of snapshotEvery; never at a deletion, so
      // the deletion marker always stays among the events after the latest snapshot.
      const crosses = Math.floor(seq / snapshotEvery) > Math.floor(before.version / snapshotEvery);
      const snapshot = crosses && !after.deleted ? { seq, state: after.state } : undefined;
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
  return {
    holdable: true,
    async load(store, id) {
      const record = await store.loadKv(definition.name, id);
      if (!record) return { state: definition.initial(), deleted: false, version: 0 };
      return {
        state: record.deleted ? definition.initial() : record.state,
        deleted: record.deleted,
        version: record.version,
      };
    },
    isStale: async (store, id, loaded) => ((await store.loadKv(definition.name, id))?.version ?? 0) !== loaded.version,
    decide: (current, handler, input, isQuery, _id, principal) =>
      decideKeyValue(definition, current, handler, input, isQuery, principal),
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
