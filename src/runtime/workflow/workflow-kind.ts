import { isRefusal, SagaflowError } from "../../define/errors.ts";
import { asWorkflowEffect, workflowEffects } from "../../define/workflow-effect.ts";
import type { WorkflowDefinition, WorkflowView } from "../../define/workflow.ts";
import { finalStatuses, isLasting, type Store, type StoredReply, type StoredWorkflow, type WorkflowRecord } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import type { Current, Decision } from "../decide.ts";
import type { EagerStep, Kind, Loaded } from "../kinds.ts";
import { requestHash } from "../request-hash.ts";
import { effectsFor } from "../../define/effect.ts";
import { startedByNote } from "./started-by.ts";
import { applyDecision, startRecord } from "./record.ts";

type AnyHandler = (view: unknown, input: unknown, fx: unknown) => unknown;

export function viewOf(id: string, record: WorkflowRecord): WorkflowView<unknown> {
  return { id, status: record.status, step: record.step, state: record.state };
}

const unchanged = (current: Current, reply: StoredReply): Decision => ({ reply, events: [], next: current, changed: false });
const refuse = (current: Current, code: string, message: string, status?: number) =>
  unchanged(current, status === undefined ? { ok: false, code, message } : { ok: false, code, message, status });

/**
 * The state of a workflow retention removed, while its tombstone lasts: no record, and every
 * command (a repeated start too, which would run it again) is refused `workflow_removed`. The
 * store refuses a new record there (a tombstone counts as version -1).
 */
const removedByRetention = Object.freeze({ removedByRetention: true });
const removed: Loaded = { state: removedByRetention, deleted: false, version: -1 };

/** The workflow record an instance holds: null where none was started, or retention removed it. */
export function recordOf(state: unknown): WorkflowRecord | null {
  return state === removedByRetention ? null : (state as WorkflowRecord | null);
}

function loadedFrom(stored: StoredWorkflow | undefined): Loaded {
  if (!stored) return { state: null, deleted: false, version: 0 };
  const { name: _name, id: _id, version, ...record } = stored;
  return { state: record, deleted: false, version };
}

/**
 * Workflows in the command path: `start` (answered by the engine, idempotent by input), user
 * commands and queries on the record. Steps are not here: the engine runs them as tasks.
 */
export function workflowKind(
  definition: WorkflowDefinition,
  clock: Clock,
  afterCommit: (id: string, record: WorkflowRecord) => void,
  eagerStep?: (id: string, record: WorkflowRecord) => EagerStep | undefined,
): Kind {
  // Not stored: a tombstone is read only then (a new start is presumed new, and finds it at its commit).
  const loadedOrRemoved = async (store: Store, id: string, stored: StoredWorkflow | undefined): Promise<Loaded> =>
    stored || !(await store.retention.removedWorkflow(definition.name, id)) ? loadedFrom(stored) : removed;
  return {
    ...(eagerStep ? { eagerStep: (id: string, current: Current) => eagerStep(id, current.state as WorkflowRecord) } : {}),
    load: async (store: Store, id: string): Promise<Loaded> => loadedOrRemoved(store, id, await store.loadWorkflow(definition.name, id)),
    async refresh(store, id, loaded) {
      const stored = await store.loadWorkflow(definition.name, id);
      if (!stored && loaded === removed) return loaded;
      return (stored?.version ?? 0) === loaded.version ? loaded : loadedOrRemoved(store, id, stored);
    },
    // A start is almost always of a new instance; a repeated one finds out at its commit.
    presumeNew: (handler) => (handler === "start" ? { state: null, deleted: false, version: 0 } : undefined),

    decide(current, handler, input, isQuery, id, principal, trace): Decision {
      if (current.state === removedByRetention) {
        const again = handler === "start" ? ": a start with this id is refused while its tombstone lasts (retention.tombstonesMs, --retain-tombstones); start a new one under another id" : "";
        return refuse(current, "workflow_removed", `workflow ${definition.name} "${id}" ended and was removed by retention${again}`, 410);
      }
      const record = current.state as WorkflowRecord | null;
      if (handler === "start") {
        const hash = requestHash("start", input);
        if (record) {
          return record.startHash === hash
            ? unchanged(current, { ok: true, value: record.startReply })
            : refuse(current, "already_started", "this workflow was already started with other input");
        }
        let state: unknown;
        try {
          state = definition.start(input);
        } catch (error) {
          // A start that refuses its input (a saga given a string, a user's own check) is a 4xx, not a bug.
          if (isRefusal(error)) return refuse(current, error.code, error.message, error.status);
          throw error;
        }
        const started = startRecord(definition, state, hash, clock.now());
        // Its steps join the trace of the command that started it, wherever and whenever they run.
        if (trace !== undefined) started.record.trace = trace;
        const note = principal === undefined ? started.note : `${started.note} ${startedByNote(principal)}`;
        return { reply: { ok: true, value: started.record.startReply }, events: [], next: { state: started.record, deleted: false }, changed: true, note };
      }
      // 404 like `GET /{workflow}/{id}`: the instance does not exist (an entity's own not_found is a domain refusal).
      if (!record) return refuse(current, "not_found", `workflow ${definition.name} "${id}" was never started`, 404);
      const handlers = (isQuery ? definition.queries : definition.commands) as Record<string, AnyHandler>;
      const effect = asWorkflowEffect(handlers[handler]!(viewOf(id, record), input, effectsFor(workflowEffects, principal)), `${definition.name}.${handler}`);
      const spec = effect.replySpec;
      if (spec.kind === "error") return refuse(current, spec.code, spec.message, spec.status);
      const reply: StoredReply = { ok: true, value: spec.kind === "value" ? spec.value : undefined };
      if (!effect.newState && !effect.transition) return unchanged(current, reply);
      if (effect.transition && finalStatuses.has(record.status)) {
        return refuse(current, "workflow_finished", `the workflow is ${record.status}; it cannot move on`);
      }
      let changed;
      try {
        changed = applyDecision(definition, record, effect.newState, effect.transition, clock.now());
      } catch (error) {
        // A transition to a step the workflow does not define: a bug in the command, named as such.
        if (error instanceof SagaflowError && error.code === "unknown_step") {
          return refuse(current, error.code, `${definition.name}.${handler}: ${error.message}`, error.status);
        }
        throw error;
      }
      return { reply, events: [], next: { state: changed.record, deleted: false }, changed: true, note: `${handler}: ${changed.note}` };
    },

    write(id, before, after, _events, dedup, notes) {
      // A keyed command that changed nothing stores only its reply.
      if (after.state === before.state) return { component: definition.name, id, dedup };
      const record = after.state as WorkflowRecord;
      return {
        component: definition.name,
        id,
        workflow: {
          expectedVersion: before.version,
          record,
          transition: {
            at: record.updatedAt,
            status: record.status,
            step: record.step,
            execId: record.execId,
            attempt: record.attempt,
            detail: notes.join("; ") || "updated",
          },
        },
        dedup,
      };
    },

    versionAfter: (before, _events, after) => (after.state === before.state ? before.version : before.version + 1),

    afterCommit(id, committed) {
      afterCommit(id, committed.state as WorkflowRecord);
    },

    lasting: (committed) => committed.state !== removedByRetention && isLasting((committed.state as WorkflowRecord).status),
  };
}
