import { isStoreUnavailable, SagaflowError } from "../../define/errors.ts";
import type { StepHandler, WorkflowDefinition, WorkflowView } from "../../define/workflow.ts";
import { asWorkflowEffect } from "../../define/workflow-effect.ts";
import { finalStatuses, type InstanceWrite, type Store, type StoredReply, type WorkflowRecord, type WriteOutcome } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import type { Current, Decision } from "../decide.ts";
import type { EagerStep, Kind } from "../kinds.ts";
import { applyDecision, applyStepFailure, applyWorkflowTimeout, callKeysRetired, firstRunOf, operatorChange, retriedByOperator, stepOptions } from "./record.ts";
import type { Changed, OperatorAction, OperatorRequest } from "./record.ts";
import { StepContextImpl, stepKeyOf } from "./step-context.ts";
import { journaledEffects, keptMarker } from "./journal.ts";
import type { Dispatcher } from "../dispatcher.ts";
import { recordOf, workflowKind } from "./workflow-kind.ts";
import { LeaseLostError, type Fence, type SignalledEnd } from "../../store/cluster-port.ts";
import { workflowBucket } from "../cluster/leases.ts";
import { DueSweep } from "./due-sweep.ts";
import { leaveForAnotherNode, undefinedStepDue, UndefinedStepWarnings } from "./undefined-step.ts";
import { cancelChange, cancelStopsAttempt, changedTo, operatorDecision, refusedByDefinition, settledCancelInput, unchanged } from "./operator-decisions.ts";
import { AbandonedStep, CancelledDuringStep, StepAttempts, TerminatedDuringStep } from "./step-attempts.ts";
import { EndWaiters, workflowKey, type WaitCancel } from "./end-waiters.ts";
import type { Observer } from "../../observe/observer.ts";
import type { EagerPrefix, HeldWrite, StepHolds } from "../held-writes.ts";
import { checkDefinitions } from "./definition-check.ts";
import { checkStepOutcomeIsJson } from "../json-copy.ts";
import type { StartsTimers } from "../timers/timer-service.ts";
import { attemptOutcome } from "./attempt-outcome.ts";
import { StepDeadline } from "./step-deadline.ts";

/** Which workflow buckets this node runs (all of them on a single node). */
export interface WorkflowPlacement {
  holds(bucket: number): boolean;
  /** The fence a step's commit carries; undefined on a single node. */
  fence(bucket: number): Fence | undefined;
}

/** What the engine needs from the runtime around it: instances only through the dispatcher. */
export interface EngineHost {
  clock: Clock;
  store: Store;
  log: (line: string) => void;
  /**
   * Runs `task` in the instance's mailbox (single writer) and commits its decision. On a shared
   * store the instance checks its cached version against the store first, so a task never runs
   * on what another node has since changed.
   */
  enqueueTask: Dispatcher["enqueueTask"];
  keyedCall: Dispatcher["keyedCall"];
  /** Commits one write with others (the group committer); the store's own commit where absent. */
  submit?: (write: InstanceWrite) => Promise<WriteOutcome>;
  timers: StartsTimers;
  placement: WorkflowPlacement;
  /** Times and traces each step execution. */
  observer?: Observer;
  /** The workflow's record as this node last committed it, when that may be read without the store (Dispatcher.trustedState). */
  trustedRecord?: (name: string, id: string) => WorkflowRecord | undefined;
  /**
   * Makes a step run's StepHolds (held-writes.ts): it holds its calls' writes to commit with its
   * transition where it `holdsWrites`, and refuses them once the attempt is stopped, or waits for
   * those being committed. Absent (some unit tests): each call commits on its own, untracked.
   */
  stepHolds?: () => StepHolds;
  /**
   * How often to look in the store for workflows whose due time or deadline has passed, in case
   * a wake-up in process was lost (or the wall clock was set forward). Default 2,000 ms.
   */
  sweepMs?: number;
  /**
   * Which due times wait on a timer of their own in process: those within `withinMs` from now,
   * while fewer than `max` do. Later ones (and the rest) wait for the one store wake-up. Default
   * 30 s and 10,000.
   */
  nearWakeUps?: { withinMs: number; max: number };
}

export type { OperatorAction, OperatorRequest };

/**
 * Drives workflows: after each commit it schedules what comes next (the current step now, a
 * retry or pause timeout at `dueAt`, the workflow timeout at `deadlineAt`); steps run as tasks
 * in the instance's mailbox, so a step's result and its transition are one commit.
 */
export class WorkflowEngine {
  private readonly definitions = new Map<string, WorkflowDefinition>();
  private readonly timers = new Map<string, { cancel(): void }>();
  /** Step attempts running here: an operator's terminate stops one at once. */
  private readonly attempts = new StepAttempts();
  private readonly ends: EndWaiters;
  /** Acts in flight per workflow, and those told of a change meanwhile (they act again after). */
  private readonly acting = new Map<string, number>();
  private readonly changedMeanwhile = new Set<string>();
  private stopped = false;
  /** Told whenever an act ends (the sweep waits for its pokes to settle). */
  private readonly actEnded = new Set<() => void>();
  private readonly sweep: DueSweep;
  private readonly undefinedSteps: UndefinedStepWarnings;
  /** Whether a step's calls' writes are held (what an eager start's steps commit with it), asked of one StepHolds made for it. */
  private readonly eagerStarts: boolean;

  constructor(private readonly host: EngineHost) {
    this.undefinedSteps = new UndefinedStepWarnings(host.log);
    this.eagerStarts = host.stepHolds?.().holdsWrites === true;
    this.ends = new EndWaiters(host.store, host.trustedRecord);
    this.sweep = new DueSweep({
      clock: host.clock,
      store: host.store,
      log: host.log,
      sweepMs: host.sweepMs ?? defaultSweepMs,
      names: () => [...this.definitions.keys()],
      holds: (bucket) => host.placement.holds(bucket),
      acting: () => this.acting.size,
      poke: (name, id) => {
        const definition = this.definitions.get(name);
        const key = workflowKey(name, id);
        if (!definition || !host.placement.holds(workflowBucket(name, id)) || this.acting.has(key)) return undefined;
        this.poke(definition, id);
        return key;
      },
      actingOn: (key) => this.acting.has(key),
      actEnded: () => new Promise<void>((resolve) => this.actEnded.add(resolve)),
      stopped: () => this.stopped,
    });
  }

  kind(definition: WorkflowDefinition): Kind {
    this.definitions.set(definition.name, definition);
    const committed = (id: string, record: WorkflowRecord) => this.committed(definition, id, record);
    return workflowKind(definition, this.host.clock, committed, definition.eagerStart === true ? (id, record) => this.eagerStep(definition, id, record) : undefined);
  }

  /**
   * A step of an eager start (startWithSteps in ../eager-start.ts): only where its calls' writes can be held
   * to commit with the start, and only if it is due at once. On a node that does not run the
   * workflow's bucket it hands over (EagerStep.handsOver): a start that reaches any node of several
   * still commits with its steps, and only what is left goes to the bucket's holder.
   */
  private eagerStep(definition: WorkflowDefinition, id: string, record: WorkflowRecord): EagerStep | undefined {
    if (this.stopped || !this.eagerStarts || record.status !== "running" || record.dueAt !== null) return undefined;
    const handsOver = !this.host.placement.holds(workflowBucket(definition.name, id));
    return Object.assign((current: Current, prefix: EagerPrefix) => this.advance(definition, id, current, prefix, handsOver), { handsOver });
  }

  /**
   * Checks that every workflow not over stands at a step this code still defines.
   * `orphans: "terminate"` ends those that do not, instead of refusing to start. Instances of a
   * workflow this code does not define at all only wait (no node without it runs them): a warning
   * names it, and start-up goes on (a rolling deploy or a rollback may bring the code back).
   */
  async checkDefinitions(orphans: "refuse" | "terminate" = "refuse"): Promise<void> {
    await checkDefinitions(this.host, this.definitions, (name, id, reason) => this.operate(name, id, { action: "terminate" }, reason), orphans);
  }

  /**
   * This node now runs `bucket`. Nothing is read here: the sweep that follows (in the background,
   * so a start or takeover serves at once) reads that bucket's due workflows, page by page.
   */
  adopt(_bucket: number): void {
    this.sweep.start();
    void this.sweep.request();
  }

  /** Another node runs `bucket` now: forget what was scheduled for it here. */
  release(bucket: number): void {
    for (const [key, timer] of [...this.timers]) {
      const [name, id] = key.split("\u0000") as [string, string];
      if (workflowBucket(name, id) !== bucket) continue;
      timer.cancel();
      this.timers.delete(key);
    }
  }

  /**
   * Another node wrote this workflow: wake who waits for its end (with the end the signal brings,
   * else reading it unless the signal says the commit did not leave it over: `over` 0, see
   * EndWaiters.remoteChange); act if it is ours and may have something
   * left to do. One the signal says is over has nothing left: a wake-up armed for it here is
   * dropped, and nothing is read (a transfer started on another node ends in its start's commit).
   */
  remoteChange(name: string, id: string, over?: 0 | 1, end?: SignalledEnd): void {
    const definition = this.definitions.get(name);
    if (!definition || this.stopped) return;
    this.ends.remoteChange(name, id, over, end);
    if (!this.host.placement.holds(workflowBucket(name, id))) return;
    if (over === 1) {
      this.forgetWakeUp(workflowKey(name, id));
      // Over elsewhere (an operator's terminate sent to another node): a step attempt running
      // here stops rather than go on sending calls until its commit is refused.
      this.attempts.abandon(workflowKey(name, id));
    } else this.poke(definition, id);
  }

  /** Runs a sweep now and waits for it, backlog and all (tests). */
  sweepNow(): Promise<void> {
    return this.sweep.request();
  }

  /** Acts now, or again after the act in flight (which may have read the record before the change). */
  private poke(definition: WorkflowDefinition, id: string): void {
    const key = workflowKey(definition.name, id);
    if (this.acting.has(key)) {
      this.changedMeanwhile.add(key);
      return;
    }
    this.forgetWakeUp(key);
    this.act(definition, id);
  }

  private forgetWakeUp(key: string): void {
    this.timers.get(key)?.cancel();
    this.timers.delete(key);
  }

  /** Resolves when the workflow is over, or after `waitMs` with the record as it then is; `cancel` abandons the wait (EndWaiters). */
  waitForEnd(name: string, id: string, waitMs: number, cancel?: WaitCancel): Promise<WorkflowView<unknown> | undefined> {
    return this.ends.waitForEnd(name, id, waitMs, cancel);
  }

  /** Callers waiting for a workflow's end now (`GET ?wait=`), for tests and operators. */
  get endWaiters(): number {
    return this.ends.size;
  }

  /**
   * Operator controls, run in the instance's mailbox like everything else. Terminate does not wait
   * for a step attempt running here: it stops it as a timeout would (its later calls are not sent,
   * what it did stays), and the attempt's turn commits the workflow terminated. Nor does a cancel,
   * unless the attempt's step is one it must not stop (cancelStopsAttempt): its turn commits the
   * move to the cancel step, told whether part of the step took effect.
   */
  async operate(name: string, id: string, request: OperatorRequest, reason = "by operator"): Promise<StoredReply> {
    const { action } = request;
    const definition = this.definitions.get(name);
    if (!definition) throw new SagaflowError("unknown_component", `no workflow named "${name}"`, { status: 404 });
    const refused = refusedByDefinition(definition, request);
    if (refused) return refused;
    // Not while stopping: the operator is then refused (503), and the attempt must not end it.
    const key = workflowKey(name, id);
    const terminated = action === "terminate" && !this.stopped && this.attempts.terminate(key, reason);
    const cancelled = action === "cancel" && !this.stopped ? this.attempts.cancel(key, reason, (step) => cancelStopsAttempt(definition, step)) : undefined;
    return this.host.enqueueTask(name, id, async (current) => {
      const record = recordOf(current.state);
      if (!record) throw new SagaflowError("not_found", `workflow ${name} "${id}" was never started`, { status: 404 });
      return operatorDecision(definition, id, current, record, request, reason, this.host.clock.now(), terminated || cancelled?.applied === true);
    });
  }

  /**
   * Stops every step attempt running here with nothing decided, as a crash would leave them (the
   * step runs again later); the workflows they were of. For the testkit's stop (its clock may never reach their
   * timeouts) and a stop whose grace ran out (RuntimeOptions.stopGraceMs).
   */
  abandonAttempts(): string[] {
    // Named as people read them: `transfer "t1"` (the keys join name and id with a NUL).
    return this.attempts.abandonAll().map((key) => key.replace("\u0000", ' "') + '"');
  }

  stop(): void {
    this.stopped = true;
    this.attempts.endWaits();
    this.sweep.stop();
    for (const wake of this.actEnded) wake();
    this.actEnded.clear();
    for (const timer of this.timers.values()) timer.cancel();
    this.timers.clear();
  }

  private committed(definition: WorkflowDefinition, id: string, record: WorkflowRecord): void {
    this.ends.committed(definition.name, id, record);
    this.schedule(definition, id, record);
  }

  private schedule(definition: WorkflowDefinition, id: string, record: WorkflowRecord): void {
    this.forgetWakeUp(workflowKey(definition.name, id));
    if (this.stopped || finalStatuses.has(record.status)) return;
    // Another node runs this workflow's bucket: it schedules it (told by a signal).
    if (!this.host.placement.holds(workflowBucket(definition.name, id))) return;
    const now = this.host.clock.now();
    let due: number | undefined;
    if (record.status === "running") due = record.dueAt ?? now;
    else if (record.status === "paused" && record.dueAt !== null) due = record.dueAt;
    if (record.deadlineAt !== null && record.status !== "suspended") due = Math.min(due ?? Infinity, record.deadlineAt);
    if (due === undefined) return;
    if (due <= now) {
      this.act(definition, id);
      return;
    }
    this.wakeAt(definition, id, due);
  }

  /**
   * Wakes the workflow at `due`: by a timer of its own when that is near and few are armed;
   * otherwise by the one store wake-up, which sweeps what is due then and arms again at the next
   * due time in the store. Memory so grows with the workflows due in the next seconds (at most
   * `nearWakeUps.max`), not with every workflow waiting.
   */
  private wakeAt(definition: WorkflowDefinition, id: string, due: number): void {
    const key = workflowKey(definition.name, id);
    const now = this.host.clock.now();
    const near = this.host.nearWakeUps ?? nearWakeUps;
    if (due - now > near.withinMs || this.timers.size >= near.max) {
      this.sweep.wakeBy(due);
      return;
    }
    this.timers.set(
      key,
      this.host.clock.schedule(due - now, () => {
        this.timers.delete(key);
        this.act(definition, id);
      }),
    );
  }

  /** Workflows waiting on a timer of their own in this process (tests: it stays bounded). */
  wakeUpsInMemory(): number {
    return this.timers.size;
  }

  private act(definition: WorkflowDefinition, id: string): void {
    const key = workflowKey(definition.name, id);
    this.acting.set(key, (this.acting.get(key) ?? 0) + 1);
    this.host
      .enqueueTask(definition.name, id, (current) => this.advance(definition, id, current))
      .catch((error: unknown) => {
        // The turn's commit failed (nothing of it was kept): the stored record still says what
        // is due, so try again later rather than leave the workflow stuck until a restart.
        // Unless the bucket moved to another node: its new holder carries on.
        if (this.stopped || error instanceof LeaseLostError) return;
        if (!this.host.placement.holds(workflowBucket(definition.name, id))) return;
        this.host.log(`sagaflow: workflow ${definition.name} "${id}" could not advance: ${String(error)}; trying again in ${retryAfterFailureMs} ms`);
        this.forgetWakeUp(key);
        this.wakeAt(definition, id, this.host.clock.now() + retryAfterFailureMs);
      })
      .finally(() => {
        const left = this.acting.get(key)! - 1;
        if (left > 0) {
          this.acting.set(key, left);
          return;
        }
        this.acting.delete(key);
        for (const wake of this.actEnded) wake();
        this.actEnded.clear();
        if (this.changedMeanwhile.delete(key)) this.poke(definition, id);
      });
  }

  /**
   * Does whatever is due now: the workflow timeout, a pause timeout, or the current step. Only on
   * the bucket's holder, fenced by its lease; or for an eager start that hands over, unfenced, as
   * it commits only with the start that creates the workflow.
   */
  private async advance(definition: WorkflowDefinition, id: string, current: Current, prefix?: EagerPrefix, handsOver = false): Promise<Decision> {
    // Stopping: a step queued behind the ones abandoned waits for the next start, as after a crash
    // (not an eager start's step, which commits with the start it carries).
    if (this.stopped && prefix === undefined) return unchanged(current);
    const record = recordOf(current.state);
    const now = this.host.clock.now();
    const bucket = workflowBucket(definition.name, id);
    if (handsOver) return this.decideNext(definition, id, current, record, now, prefix);
    if (!this.host.placement.holds(bucket)) return unchanged(current);
    const fence = this.host.placement.fence(bucket);
    const decided = await this.decideNext(definition, id, current, record, now, prefix);
    return fence === undefined ? decided : { ...decided, fence };
  }

  private async decideNext(
    definition: WorkflowDefinition,
    id: string,
    current: Current,
    record: WorkflowRecord | null,
    now: number,
    prefix?: EagerPrefix,
  ): Promise<Decision> {
    if (!record || finalStatuses.has(record.status) || record.status === "suspended") return unchanged(current);
    if (record.deadlineAt !== null && record.deadlineAt <= now) {
      this.host.observer?.wake(definition.name, record, "workflow_timeout");
      return changedTo(applyWorkflowTimeout(definition, record, now));
    }
    const stepDue = record.status === "running" && (record.dueAt === null || record.dueAt <= now);
    const pauseDue = record.status === "paused" && record.dueAt !== null && record.dueAt <= now;
    if (!stepDue && !pauseDue) {
      // Woken before anything is due (a timer that fired early, a clock set back): nothing may
      // be dropped, so wait again for the earliest of the due time and the deadline.
      this.schedule(definition, id, record);
      return unchanged(current);
    }
    const undefinedStep = undefinedStepDue(definition, record);
    if (undefinedStep !== undefined) {
      this.undefinedSteps.warn(definition.name, id, undefinedStep);
      return changedTo(leaveForAnotherNode(record, undefinedStep, now));
    }
    if (record.status === "paused") {
      this.host.observer?.wake(definition.name, record, "pause_timeout");
      const then = (record.stepInput as { then?: string } | null)?.then;
      if (then === undefined) {
        const lastError = { code: "pause_timeout", message: "the pause timed out and names no step to run" };
        return changedTo({ record: { ...record, status: "failed", dueAt: null, lastError, updatedAt: now }, note: "pause timed out; failed" });
      }
      return changedTo(applyDecision(definition, record, undefined, { kind: "step", step: then, input: { timeout: true } }, now));
    }
    const run = () => this.runStep(definition, id, record, prefix);
    try {
      const { held, ...ran } = await (this.host.observer ? this.host.observer.step(definition.name, id, record, run) : run());
      return held ? { ...changedTo(ran), held } : changedTo(ran);
    } catch (error) {
      // Left as it stands: the step runs again when the workflow is next taken up, as after a crash.
      if (error instanceof AbandonedStep) return unchanged(current);
      throw error;
    }
  }

  /**
   * Runs the current step. With held writes, its last call's write comes back with the result, to
   * commit with the transition; a step that fails or times out drops it (nothing of it is kept).
   */
  private async runStep(
    definition: WorkflowDefinition,
    id: string,
    record: WorkflowRecord,
    prefix?: EagerPrefix,
  ): Promise<Changed & { held?: HeldWrite }> {
    const step = record.step!;
    const handler = (definition.steps as Record<string, StepHandler<unknown, string>>)[step]!;
    // Whether part of this attempt took effect on its own: if it fails, that is not undone (StepFailure.partial).
    let partial = false;
    const kept = () => void (partial = true);
    const stepKey = stepKeyOf(definition.name, id, record.execId);
    const { timeoutMs } = stepOptions(definition, step);
    const key = workflowKey(definition.name, id);
    // A ctx.run an earlier attempt left under way may still land its outside call: not before it.
    const lingering = this.attempts.lingeringRuns(key, this.host.clock);
    if (lingering) await lingering;
    const holds = this.host.stepHolds?.();
    const deadline = new StepDeadline(this.host.clock);
    if (holds) {
      holds.prefix = prefix && deadline.watch(prefix);
      holds.onKeptAlone = kept;
      holds.keptMarker = (call) => keptMarker(definition.name, id, step, call, this.host.clock.now());
      // Not on a node handing an eager start over, nor once this node's lease of the bucket lapsed.
      const bucket = workflowBucket(definition.name, id);
      holds.mayCommitUnheld = () => this.host.placement.holds(bucket);
    }
    // Nothing to hold the step's writes in: its start commits first, as without eagerStart.
    else await prefix?.commit();
    const journal = { store: this.host.store, clock: this.host.clock, step, commitMark: this.host.submit ?? ((write) => this.host.store.commit([write])) };
    const firstRun = firstRunOf(record);
    const ctx = new StepContextImpl(definition.name, id, record.execId, record.attempt + 1, firstRun, this.host.keyedCall, this.host.timers, holds, journal, retriedByOperator(record), kept);
    // The record as this attempt runs it: a cancel step's input with `partial` settled (on another
    // node's cancel), so what a failure stores says what the step saw, as an operator's retry reads it.
    let ran = record;
    try {
      const run = (input: unknown) => {
        if (input !== record.stepInput) ran = { ...record, stepInput: input };
        return handler(record.state, input, ctx);
      };
      const result = await attemptOutcome(settledCancelInput(this.host.store, definition.name, id, record), run, (reject) => {
        deadline.start(timeoutMs, () => {
          ctx.abandon();
          reject(new SagaflowError("step_timeout", `step ${step} did not finish within ${timeoutMs} ms`, { status: 504, retryable: true }));
        });
        this.attempts.add(key, step, () => ctx.abandon(), reject);
      });
      const effect = asWorkflowEffect(result, `step ${definition.name}.${step}`);
      const changed = applyDecision(definition, ran, effect.newState, effect.transition ?? { kind: "end" }, this.host.clock.now());
      // A state or next input JSON cannot hold fails this attempt (retried, then failed, as a
      // throw is), rather than every commit of it — which would run the step again and again.
      checkStepOutcomeIsJson(changed.record, `${definition.name}.${step}`);
      deadline.cancel();
      const held = await holds?.take();
      if (!held) return changed;
      // Committed with the transition, the call's idempotency record would never be read.
      return { ...changed, held: callKeysRetired(record, changed.record) ? { ...held, write: { ...held.write, dedup: [] } } : held };
    } catch (error) {
      holds?.drop();
      if (error instanceof TerminatedDuringStep) return operatorChange(record, "terminate", this.host.clock.now(), error.reason)!;
      if (error instanceof AbandonedStep) throw error;
      await holds?.flushSettled();
      // An earlier run a crash cut short may have kept part of it too (its memory gone with it);
      // not asked when the store is out of reach (that failure uses no attempt and moves nowhere),
      // nor on the execution's first run (there was none before; `kept` told of this one's).
      partial ||= ctx.runInFlight || (!firstRun && !isStoreUnavailable(error) && (await journaledEffects(this.host.store, definition.name, id, stepKey)));
      if (!(error instanceof CancelledDuringStep)) return applyStepFailure(definition, ran, error, this.host.clock.now(), partial);
      error.applied = true;
      return cancelChange(definition, record, error.reason, this.host.clock.now(), partial);
    } finally {
      deadline.cancel();
      this.attempts.delete(key);
      if (ctx.runInFlight) this.attempts.linger(key, ctx.runsSettled());
    }
  }
}

/** How long the engine waits before acting again on a workflow whose turn could not be committed. */
const retryAfterFailureMs = 1_000;
const defaultSweepMs = 2_000;
const nearWakeUps = { withinMs: 30_000, max: 10_000 };
