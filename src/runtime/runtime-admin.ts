import { missingWorkflow } from "./retention/removed-workflow.ts";
import { startedByOf } from "./workflow/started-by.ts";
import { operatorChoices } from "./workflow/operator-decisions.ts";
import { journalOf } from "./workflow/journal-entries.ts";
import { journaledEffects } from "./workflow/journal.ts";
import { stepKeyOf } from "./workflow/step-context.ts";
import { cliWord } from "../define/saga.ts";
import type { RetentionReport, RetentionService, RetentionSettings } from "./retention/retention-service.ts";
import { errors, SagaflowError } from "../define/errors.ts";
import type { WorkflowDefinition } from "../define/workflow.ts";
import type { Store, StoreStatus, TimerCursor, WorkflowFilter, WorkflowRecord } from "../store/port.ts";
import type { ViewService } from "./views/view-service.ts";
import type { RebuildFrom } from "./views/view-runner.ts";
import type { Membership } from "./cluster/membership.ts";
import type { ConsumerRunner } from "./consumers/consumer-runner.ts";
import type { Dispatcher } from "./dispatcher.ts";
import type { AdminFacade, ConsumerReport, EntitySummary, ShownWorkflow, ViewReport } from "./facades.ts";
import { AdminSamples } from "./admin-samples.ts";
import { checkId } from "./ids.ts";
import { ConsoleQueries, type WorkflowSearch } from "./console-queries.ts";
import type { OperatorAction, WorkflowEngine } from "./workflow/engine.ts";
import type { TopicService } from "./topics/topic-service.ts";
import type { ScheduleService } from "./schedules/schedule-service.ts";
import type { TimerService } from "./timers/timer-service.ts";

/** Lag is counted up to this many entries (counting more costs more than it tells). */
const lagCountCap = 10_000;
const historyLimit = 1_000;
const maxPage = 1_000;

const notFound = (what: string) => new SagaflowError("not_found", what, { status: 404 });

/** The parts of a running service operators look at. */
export interface AdminParts {
  store: Store;
  dispatcher: Dispatcher;
  workflows: WorkflowEngine;
  timers: TimerService;
  consumers: ReadonlyMap<string, ConsumerRunner>;
  topics?: TopicService;
  schedules?: ScheduleService;
  views: ViewService;
  membership: Membership;
  /** The Prometheus text exposition (`GET /metrics`). */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Commands handled and group commits made since start (for `GET /rates`). */
  totals(): Promise<{ commands: number; commits: number }>;
  /** How often lag and rates are sampled, and how many samples are kept (default every 5 s, 120). */
  samples?: { everyMs?: number; keep?: number };
  retention: RetentionService;
}

/** The admin facade over a running service: reads the store, acts through the runners and mailboxes. */
export class RuntimeAdmin implements AdminFacade {
  private readonly console: ConsoleQueries;

  private readonly samples: AdminSamples;

  constructor(private readonly parts: AdminParts) {
    this.console = new ConsoleQueries(parts.store, parts.dispatcher);
    this.samples = new AdminSamples({ lags: () => this.lags(), totals: () => parts.totals(), now: () => Date.now() }, parts.samples);
  }

  /** Starts sampling lag and rates (the runtime's start). */
  startSampling(): void {
    this.samples.start();
  }

  stopSampling(): void {
    this.samples.stop();
  }

  metrics() {
    return this.parts.metrics();
  }

  listWorkflows(filter: WorkflowFilter) {
    return this.parts.store.listWorkflows(filter);
  }

  /**
   * Retention's settings, last run and what it removed, with the live nodes whose settings differ from this node's (the node
   * holding retention's lease decides for all, and the lease moves, so they should agree).
   */
  async retention(): Promise<RetentionReport> {
    const [report, nodes] = await Promise.all([this.parts.retention.report(), this.parts.membership.report()]);
    const here = JSON.stringify(report.settings);
    const otherSettings = nodes.nodes
      .filter((n) => n.alive && n.id !== nodes.self && n.info["retention"] !== undefined && JSON.stringify(n.info["retention"]) !== here)
      .map((n) => ({ node: n.id, settings: n.info["retention"] as RetentionSettings }));
    return { ...report, otherSettings };
  }

  /** A name this service does not define that finds nothing is a typo, most likely: 404, naming the ones it has. */
  async searchWorkflows(search: WorkflowSearch) {
    const page = await this.console.searchWorkflows(search);
    const { name } = search;
    if (name !== undefined && page.workflows.length === 0 && page.next === null && !this.workflowDefinition(name)) {
      throw notFound(`no workflows found${this.unlessNamed(name)}`);
    }
    return page;
  }

  async definitions() {
    return this.console.definitions();
  }

  processMap(workflow: string, since: number, until: number) {
    return this.console.processMap(workflow, since, until);
  }

  entityStateAt(component: string, id: string, seq: number) {
    checkId(id);
    return this.console.entityStateAt(component, id, seq);
  }

  /** Nothing, or why a name that finds nothing may be misspelt: the service's workflows by name. */
  private unlessNamed(name: string): string {
    if (this.workflowDefinition(name)) return "";
    const names = this.parts.dispatcher.components().filter((c) => c.kind === "workflow").map((c) => c.name);
    return `; this service has no workflow named "${name}" (its workflows: ${names.join(", ") || "none"})`;
  }

  /** The stored record; `not_found` (404), or `workflow_removed` (410) while retention's tombstone lasts. */
  private async workflowRecord(name: string, id: string) {
    const workflow = await this.parts.store.loadWorkflow(name, id);
    if (!workflow) {
      throw await missingWorkflow(this.parts.store, name, id, `no workflow ${name} "${id}"${this.unlessNamed(name)}`);
    }
    return workflow;
  }

  /** The record and its history: `historyLimit` transitions after version `historyAfter`; `historyNext` reads on from a full page. */
  async showWorkflow(name: string, id: string, historyAfter = 0): Promise<ShownWorkflow> {
    const workflow = await this.workflowRecord(name, id);
    const history = await this.parts.store.workflowHistory(name, id, historyLimit, historyAfter);
    // Who started it over HTTP (a verified token's sub and iss), or null: the first transition says.
    const first = historyAfter === 0 ? history : await this.parts.store.workflowHistory(name, id, 1);
    const full = history.length === historyLimit;
    const definition = this.workflowDefinition(name);
    // A saga in its compensations: the step they are undoing (or stopped at), for the console's graph.
    const { undoing, ...operator } = definition ? operatorChoices(definition, id, workflow, Date.now()) : { undoing: null, actions: [], undoneByHand: null, forward: null };
    if (operator.forward !== null && (await this.compensationKeptPart(name, id, workflow))) operator.forward = null;
    const journal = await journalOf(this.parts.store, name, id, history);
    return {
      workflow: { ...workflow, startedBy: startedByOf(first), undoing },
      operator,
      history,
      ...(full ? { historyNext: history.at(-1)!.version } : {}),
      journal: journal.entries,
      ...(journal.full ? { journalFull: true as const } : {}),
    };
  }

  /** The running service's definition of workflow `name`; undefined when it has none (removed from the code). */
  private workflowDefinition(name: string): WorkflowDefinition | undefined {
    const component = this.parts.dispatcher.component(name);
    return component?.kind === "workflow" ? component : undefined;
  }

  /**
   * `undoneByHand`: a retry's word that the operator undid that step of a saga by hand; `forward`:
   * that the step done in part it stopped at is to be finished (WorkflowDefinition.operatorRetry).
   */
  async operateWorkflow(name: string, id: string, action: OperatorAction, options: { undoneByHand?: string; forward?: boolean } = {}): Promise<unknown> {
    const { undoneByHand, forward = false } = options;
    const component = this.workflowDefinition(name);
    if (!component) throw new SagaflowError("unknown_component", `no component named "${name}"${this.unlessNamed(name)}`, { status: 404 });
    checkId(id);
    if (undoneByHand !== undefined) checkUndoneByHand(component, action, undoneByHand);
    if (forward) await this.checkForward(component, name, id, action, undoneByHand);
    const request = { action, ...(undoneByHand === undefined ? {} : { undoneByHand }), ...(forward ? { forward } : {}) };
    const reply = await this.parts.workflows.operate(name, id, request).catch(async (error: unknown) => {
      // Not there: say "removed" (410) where retention removed it.
      if (error instanceof SagaflowError && error.code === "not_found") await this.showWorkflow(name, id);
      throw error;
    });
    if (reply.ok) return reply.value;
    throw new SagaflowError(reply.code, reply.message, { status: 409 });
  }

  /**
   * `forward` goes with a saga's retry, alone; and the compensation's execution it leaves must have
   * kept nothing, since the steps after the finished one take its number (forwardChange).
   */
  private async checkForward(definition: WorkflowDefinition, name: string, id: string, action: OperatorAction, undoneByHand: string | undefined): Promise<void> {
    if (action !== "retry") throw errors.invalidInput(`forward goes with retry (of a saga stopped at a step done in part that nothing undoes), not ${action}`);
    if (!definition.saga) throw errors.invalidInput(`forward applies to a saga stopped at a step done in part that nothing undoes; workflow "${name}" is not a saga`);
    if (undoneByHand !== undefined) throw errors.invalidInput("forward and undoneByHand are two different answers: finish the step, or say you undid it by hand");
    const record = await this.parts.store.loadWorkflow(name, id);
    if (record && (await this.compensationKeptPart(name, id, record))) {
      const message = `saga ${name} "${id}": its compensations kept part of their work before they stopped (npx sagaflow workflows show ${cliWord(name)} ${cliWord(id)} lists it): finishing the step it stopped at forward would leave that in place (and give the next step their keys): undo them and the step by hand, then retry with undoneByHand; or terminate`;
      throw new SagaflowError("invalid_status", message, { status: 409 });
    }
  }

  /** Whether the execution a failed saga stopped in (its compensation's) kept anything: a forward retry would give its number to the next step. */
  private async compensationKeptPart(name: string, id: string, record: WorkflowRecord): Promise<boolean> {
    return record.status === "failed" && (await journaledEffects(this.parts.store, name, id, stepKeyOf(name, id, record.execId)));
  }

  private entityNamed(name: string) {
    const component = this.parts.dispatcher.component(name);
    if (!component || component.kind === "workflow") throw notFound(`no entity named "${name}" (workflows are under /workflows)`);
    return component;
  }

  async entity(name: string, id: string) {
    const component = this.entityNamed(name);
    checkId(id);
    const { store } = this.parts;
    if (component.kind === "key-value") {
      const record = await store.loadKv(name, id);
      if (!record) throw notFound(`${name} "${id}" was never written`);
      return { component: name, id, ...record };
    }
    const history = await store.loadHistory(name, id);
    const last = history.events.at(-1)?.seq ?? history.snapshot?.seq ?? 0;
    if (last === 0) throw notFound(`${name} "${id}" has no events`);
    const current = await this.console.entityStateAt(name, id, last, history).catch(() => undefined);
    const summary: EntitySummary = { component: name, id, seq: last, ...(current ? { state: current.state } : {}), snapshot: history.snapshot ?? null, eventsSinceSnapshot: history.events.length };
    return summary;
  }

  async entityEvents(name: string, id: string, after: number, limit: number) {
    this.entityNamed(name);
    checkId(id);
    return { component: name, id, events: await this.parts.store.readEvents(name, id, after, limit) };
  }

  /** Entries of the runner's source after `offset` (its current one by default), counted up to `lagCountCap`. */
  private async lagOf(runner: ConsumerRunner, offset?: number): Promise<number> {
    return (await this.parts.store.readFeed(offset ?? (await runner.currentOffset()), lagCountCap, [runner.definition.source.name])).length;
  }

  /** Every consumer's lag (topic consumers' and producers' too), without their parked counts: what the sampler records. */
  private async lags(): Promise<Array<{ name: string; lag: number }>> {
    const own = await Promise.all([...this.parts.consumers.values()].map(async (runner) => ({ name: runner.definition.name, lag: await this.lagOf(runner) })));
    const topics = this.parts.topics ? await this.parts.topics.reports(await this.parts.store.feedHead()) : [];
    return [...own, ...topics.map((r) => ({ name: r.name, lag: r.lag }))];
  }

  async consumerLag(name: string) {
    const runner = this.parts.consumers.get(name);
    if (runner) return this.samples.lagHistory(name, await this.lagOf(runner));
    const topic = (await this.parts.topics?.reports(await this.parts.store.feedHead()))?.find((r) => r.name === name);
    if (!topic) throw notFound(`no consumer named "${name}"`);
    return this.samples.lagHistory(name, topic.lag);
  }

  rates() {
    return this.samples.rates();
  }

  async idempotencyKeys(name: string, id: string, after: string, limit: number) {
    this.entityNamed(name);
    checkId(id);
    const records = await this.parts.store.listDedup(name, id, after, Math.min(limit, maxPage));
    const keys = records.map(({ key, at, reply }) => ({ key, at, reply }));
    return { component: name, id, keys, next: keys.length === limit ? keys.at(-1)!.key : null };
  }

  async workflowStates(name: string, id: string, after: number, limit: number) {
    if (this.parts.dispatcher.component(name)?.kind !== "workflow") throw errors.unknownComponent(name);
    checkId(id);
    // Its record first: 404, or 410 where retention removed it.
    await this.workflowRecord(name, id);
    const states = await this.parts.store.workflowStates(name, id, after, Math.min(limit, maxPage));
    return { name, id, states, next: states.length === limit ? states.at(-1)!.version : null };
  }

  async consumers() {
    const { store } = this.parts;
    const head = await store.feedHead();
    const consumers = await Promise.all(
      [...this.parts.consumers.values()].map(async (runner): Promise<ConsumerReport> => {
        // A node that does not deliver it reports the offset the delivering node stored.
        const offset = await runner.currentOffset();
        const lag = await this.lagOf(runner, offset);
        const parked = await store.listParked(runner.definition.name, lagCountCap);
        return {
          name: runner.definition.name,
          source: runner.definition.source.name,
          offset,
          head,
          lag,
          lagIsAtLeast: lag === lagCountCap,
          // Failed messages and those held behind them: each waits for `sagaflow parked … retry|skip`.
          parked: parked.length,
        };
      }),
    );
    return { head, consumers: [...consumers, ...(await this.parts.topics?.reports(head) ?? [])] };
  }

  private consumer(name: string): { retry(position: number): Promise<{ delivered: number; parked: number }>; skip(position: number): Promise<{ delivered: number; parked: number }> } {
    const topic = this.parts.topics?.consumers.get(name);
    if (topic) return { retry: (seq) => topic.release(seq, "retry"), skip: (seq) => topic.release(seq, "skip") };
    const runner = this.parts.consumers.get(name);
    if (!runner) throw notFound(`no consumer named "${name}"`);
    return runner;
  }

  parked(consumer: string, limit: number, afterPosition = 0) {
    // A topic producer is listed with the consumers (it has a lag) and parks nothing.
    if (!this.parts.topics?.producers.has(consumer)) this.consumer(consumer);
    return this.parts.store.listParked(consumer, limit, afterPosition);
  }

  async releaseParked(consumer: string, position: number, action: "retry" | "skip") {
    const runner = this.consumer(consumer);
    try {
      return await (action === "retry" ? runner.retry(position) : runner.skip(position));
    } catch (error) {
      if (error instanceof SagaflowError) throw error;
      throw notFound(error instanceof Error ? error.message : String(error));
    }
  }

  async schedules() {
    return this.parts.schedules?.report() ?? { schedules: [] };
  }

  setSchedulePaused(name: string, paused: boolean) {
    if (!this.parts.schedules) throw notFound(`no schedule named "${name}"`);
    return this.parts.schedules.setPaused(name, paused);
  }

  timers(status: "pending" | "parked" | undefined, limit: number, after?: TimerCursor) {
    return this.parts.store.listTimers(status, limit, after);
  }

  async retryTimer(name: string) {
    if (!(await this.parts.timers.retryParked(name))) throw notFound(`no parked timer named "${name}"`);
    return { name, status: "pending" as const };
  }

  async cancelTimer(name: string) {
    if (!(await this.parts.store.cancelTimer(name))) throw notFound(`no timer named "${name}"`);
    return { name, cancelled: true as const };
  }

  async views() {
    const head = await this.parts.store.feedHead();
    const views = await Promise.all(this.parts.views.runners().map(
      async (runner): Promise<ViewReport> => ({
        name: runner.definition.name,
        version: runner.definition.version,
        head,
        active: runner.serving,
        lag: runner.serving ? head - runner.serving.offset : null,
        rebuilding: runner.rebuilding,
        parked: await runner.countParked(),
        lastError: runner.lastError ?? null,
      }),
    ));
    return { head, views };
  }

  rebuildView(name: string, from?: RebuildFrom) {
    return this.parts.views.runner(name).rebuild(from);
  }

  viewParked(view: string, limit: number) {
    return this.parts.views.runner(view).listParked(limit);
  }

  releaseViewParked(view: string, position: number, action: "retry" | "skip") {
    const runner = this.parts.views.runner(view);
    return action === "retry" ? runner.retryParked(position) : runner.skipParked(position);
  }

  storeStatus(): StoreStatus {
    return this.parts.store.status?.() ?? { status: "ok" };
  }

  nodes() {
    return this.parts.membership.report();
  }

  /** One backup at a time: a second one would only slow the first and the commands. */
  private backingUp = false;

  async backup(path: string) {
    const { store } = this.parts;
    if (!store.backup) {
      throw new SagaflowError(
        "backup_unsupported",
        store.cluster
          ? "this service stores its data in PostgreSQL: back it up with PostgreSQL's own tools (pg_dump --schema=<schema>, or a base backup with WAL archiving for point-in-time recovery; see docs/site/guides/postgres-and-nodes.md)"
          : "this store keeps nothing on disk to back up",
        { status: 409 },
      );
    }
    if (this.backingUp) throw new SagaflowError("backup_running", "a backup is running already; wait for it to finish", { status: 409 });
    this.backingUp = true;
    try {
      return await store.backup(path);
    } finally {
      this.backingUp = false;
    }
  }
}

/** `undoneByHand` is a saga's retry's: anywhere else it is a mistake, refused before anything changes. */
function checkUndoneByHand(definition: WorkflowDefinition, action: OperatorAction, undoneByHand: string): void {
  if (action !== "retry") throw errors.invalidInput(`undoneByHand goes with retry (of a saga stopped in its compensations), not ${action}`);
  if (!definition.saga) throw errors.invalidInput(`undoneByHand applies to a saga stopped in its compensations; workflow "${definition.name}" is not a saga`);
  if (undoneByHand === "") throw errors.invalidInput("undoneByHand is empty: name the step the saga's compensations stopped at");
}
