/**
 * The admin queries the web console needs beyond the CLI's: what is declared (workflow step
 * graphs, component names), a workflow list with more filters, a process map, and an entity's
 * state after any of its events. Each reads a bounded amount (pages, caps) so that an open console
 * cannot slow the service.
 */
import type { WorkflowDefinition } from "../define/workflow.ts";
import { outcomeOf } from "./workflow/outcome.ts";
import { SagaflowError } from "../define/errors.ts";
import type { EntityHistory, Store, StoredWorkflow, WorkflowFilter } from "../store/port.ts";
import { compareText } from "../store/collation.ts";
import type { EntityDefinition } from "../define/entity.ts";
import type { Dispatcher } from "./dispatcher.ts";
import { foldEvents } from "./decide.ts";
import { buildProcessMap, type ProcessMap } from "./process-map.ts";

/** A declared workflow as the console draws it. */
export interface WorkflowShape {
  name: string;
  /** Declared steps in order; the first runs after the start. */
  steps: string[];
  /** Where each step goes when it fails for good (retries exhausted), if anywhere. */
  failoverTo: Record<string, string>;
  onCancel: string | null;
  timeoutStep: string | null;
  /** For a saga: its forward steps and which have a compensation; compensations run in the step `compensationStep`. */
  saga: { steps: Array<{ name: string; compensable: boolean }>; compensationStep: string } | null;
}

/** `GET /definitions`: what the service declares. */
export interface Definitions {
  workflows: WorkflowShape[];
  entities: Array<{ name: string; kind: "entity" | "key-value" }>;
}

/** The extra filters of `GET /workflows` (scanned in pages, up to `maxScan` records). */
export interface WorkflowSearch extends WorkflowFilter {
  idPrefix?: string;
  /** Created at or after / before (epoch ms). */
  createdAfter?: number;
  createdBefore?: number;
  /** The state's `status` field (a saga's `completed`, `compensated`, `rejected`, …). */
  outcome?: string;
}

/** A page of workflows; `next` is the `after` of the next page (null at the end). */
export interface WorkflowPage {
  workflows: StoredWorkflow[];
  next: string | null;
}

const maxScan = 5_000;
const scanBatch = 500;
const maxMapInstances = 2_000;
const mapHistoryLimit = 1_000;
const maxReplay = 100_000;

const notFound = (what: string) => new SagaflowError("not_found", what, { status: 404 });

export function shapeOf(definition: WorkflowDefinition): WorkflowShape {
  const steps = Object.keys(definition.steps as object);
  const failoverTo: Record<string, string> = {};
  for (const step of steps) {
    const own = (definition.stepOptions as Record<string, { failoverTo?: string } | undefined> | undefined)?.[step];
    const target = own && "failoverTo" in own ? own.failoverTo : definition.defaults?.failoverTo;
    if (typeof target === "string") failoverTo[step] = target;
  }
  return {
    name: definition.name,
    steps,
    failoverTo,
    onCancel: definition.onCancel ?? null,
    timeoutStep: definition.timeout?.step ?? null,
    saga: definition.saga ? { steps: definition.saga.steps.map((s) => ({ ...s })), compensationStep: definition.saga.compensationStep } : null,
  };
}

export class ConsoleQueries {
  constructor(private readonly store: Store, private readonly dispatcher: Dispatcher) {}

  definitions(): Definitions {
    const workflows: WorkflowShape[] = [];
    const entities: Definitions["entities"] = [];
    for (const component of this.dispatcher.components()) {
      if (component.kind === "workflow") workflows.push(shapeOf(component as WorkflowDefinition));
      else if (component.kind === "entity" || component.kind === "key-value") entities.push({ name: component.name, kind: component.kind });
    }
    return { workflows, entities };
  }

  private workflowNamed(name: string): WorkflowDefinition {
    const component = this.dispatcher.component(name);
    if (component?.kind !== "workflow") throw notFound(`no workflow named "${name}"`);
    return component as WorkflowDefinition;
  }

  /** The workflows matching every filter given, a page at a time (`next`: an id within one name, `{name}/{id}` across names). */
  async searchWorkflows(search: WorkflowSearch): Promise<WorkflowPage> {
    const { idPrefix, createdAfter, createdBefore, outcome, ...filter } = search;
    const extra = idPrefix !== undefined || createdAfter !== undefined || createdBefore !== undefined || outcome !== undefined;
    // The `after` of the next page: an id within one name, `{name}/{id}` through every name.
    const cursorOf = (w: StoredWorkflow) => (filter.name === undefined ? `${w.name}/${w.id}` : w.id);
    /** The store's paging fields to go on after `w`. */
    const pageAfter = (w: StoredWorkflow) => (filter.name === undefined ? { afterName: w.name, afterId: w.id } : { afterId: w.id });
    if (!extra) {
      const workflows = await this.store.listWorkflows(filter);
      const last = workflows.at(-1);
      return { workflows, next: workflows.length === filter.limit && last ? cursorOf(last) : null };
    }
    const matches = (w: StoredWorkflow) =>
      (idPrefix === undefined || w.id.startsWith(idPrefix)) &&
      (createdAfter === undefined || w.createdAt >= createdAfter) &&
      (createdBefore === undefined || w.createdAt <= createdBefore) &&
      (outcome === undefined || outcomeOf(w.state) === outcome);
    const found: StoredWorkflow[] = [];
    // Where the next batch starts, over the filter's own afterId / afterName.
    let paging: Pick<WorkflowFilter, "afterId" | "afterName"> = {};
    if (idPrefix !== undefined && filter.name !== undefined && (filter.afterId === undefined || compareText(filter.afterId, idPrefix) < 0)) {
      // Ids are ordered: start at the prefix (the id equal to it is not "after" it, so look it up).
      const exact = filter.afterId === undefined ? await this.store.loadWorkflow(filter.name, idPrefix) : undefined;
      if (exact && (filter.statuses === undefined || filter.statuses.includes(exact.status)) && (filter.step === undefined || exact.step === filter.step) && matches(exact)) {
        found.push(exact);
        if (found.length === filter.limit) return { workflows: found, next: cursorOf(exact) };
      }
      paging = { afterId: idPrefix };
    }
    let scanned = 0;
    let last: StoredWorkflow | undefined;
    for (;;) {
      const batch = await this.store.listWorkflows({ ...filter, ...paging, limit: scanBatch });
      scanned += batch.length;
      for (const w of batch) {
        // Past the prefix, nothing more matches: within one workflow's ids, which are ordered (a list of all is ordered by name first).
        if (filter.name !== undefined && idPrefix !== undefined && compareText(w.id, idPrefix) > 0 && !w.id.startsWith(idPrefix)) return { workflows: found, next: null };
        if (matches(w)) found.push(w);
        last = w;
        if (found.length === filter.limit) return { workflows: found, next: cursorOf(w) };
      }
      if (batch.length < scanBatch) return { workflows: found, next: null };
      paging = pageAfter(last!);
      // Enough read for one request: the caller pages on from here.
      if (scanned >= maxScan) return { workflows: found, next: cursorOf(last!) };
    }
  }

  /** The process map of one workflow over [since, until] (epoch ms), from the records and histories of at most `maxMapInstances` instances. */
  async processMap(name: string, since: number, until: number): Promise<ProcessMap> {
    const definition = this.workflowNamed(name);
    const picked: StoredWorkflow[] = [];
    let after: string | undefined;
    let truncated = false;
    outer: for (;;) {
      const batch = await this.store.listWorkflows({ name, limit: scanBatch, ...(after === undefined ? {} : { afterId: after }) });
      for (const w of batch) {
        // Instances last changed before the window did nothing in it; those created after it neither.
        if (w.updatedAt >= since && w.createdAt <= until) picked.push(w);
        if (picked.length === maxMapInstances) {
          truncated = true;
          break outer;
        }
      }
      if (batch.length < scanBatch) break;
      after = batch.at(-1)!.id;
    }
    const instances = [];
    for (const record of picked) {
      instances.push({ record, history: await this.store.workflowHistory(name, record.id, mapHistoryLimit) });
    }
    return buildProcessMap(name, Object.keys(definition.steps as object), instances, { since, until }, truncated);
  }

  /**
   * An event-sourced entity's state right after its event `seq` (time travel), folded from the
   * latest snapshot at or before it. `loaded`: the instance's history, if the caller read it already.
   */
  async entityStateAt(name: string, id: string, seq: number, loaded?: EntityHistory): Promise<{ component: string; id: string; seq: number; state: unknown }> {
    const component = this.dispatcher.component(name);
    if (component?.kind !== "entity") throw notFound(`no event-sourced entity named "${name}"`);
    const model = component as EntityDefinition;
    const history = loaded ?? (await this.store.loadHistory(name, id));
    // A snapshot folded under another stateVersion is not this code's state (see the entity kind's load).
    const snapshot = history.snapshot && history.snapshot.seq <= seq && history.snapshot.stateVersion === (model.stateVersion ?? 0) ? history.snapshot : undefined;
    let state = snapshot ? snapshot.state : model.initial();
    let at = snapshot ? snapshot.seq : 0;
    if (seq - at > maxReplay) {
      const newest = history.snapshot ? `, or one at or after event ${history.snapshot.seq} (its newest snapshot)` : "";
      throw new SagaflowError(
        "too_far_back",
        `the state after event ${seq} needs ${seq - at} events replayed from the first, more than ${maxReplay}: an entity keeps only its newest snapshot; pick an event up to ${maxReplay}${newest}`,
        { status: 409 },
      );
    }
    // The events loaded with the history follow what it starts from (its snapshot, or the first event): folded without a read.
    const following = snapshot || !history.snapshot ? history.events.filter((e) => e.seq <= seq) : [];
    if (following.length > 0 && following[0]!.seq === at + 1) {
      state = foldEvents(model, state, following);
      at = following.at(-1)!.seq;
    }
    while (at < seq) {
      const events = await this.store.readEvents(name, id, at, Math.min(1_000, seq - at));
      if (events.length === 0) break;
      state = foldEvents(model, state, events);
      at = events.at(-1)!.seq;
    }
    if (at < seq) throw notFound(`${name} "${id}" has no event ${seq} (its last is ${at})`);
    return { component: name, id, seq, state };
  }
}
