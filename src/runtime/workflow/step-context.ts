import type { Component } from "../../define/service.ts";
import { WorkflowEffectRecord, type MovedEffectRecord } from "../../define/workflow-effect.ts";
import type { InstanceClient, Timers } from "../../define/handlers.ts";
import type { RunAttempt, RunOptions, StepContext } from "../../define/workflow.ts";
import type { Store } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import { Journal, keptCall, markKept, type CommitsMark, type KeptEffect } from "./journal.ts";
import { KeyedCaller, type EarlierRuns, type KeyedCall } from "../keyed-caller.ts";
import type { StepHolds } from "../held-writes.ts";
import { keyedTimers, type StartsTimers } from "../timers/timer-service.ts";

export type { KeyedCall };

/**
 * What a running step sees. Component calls get the key `wf:{workflow}:{id}:{execution}:{n}`:
 * the same on every run of this step execution, so a re-run after a crash or timeout gets the
 * stored replies. Once the engine has given up on a run (timeout), its calls are refused.
 */
export class StepContextImpl implements StepContext<unknown, string> {
  private readonly caller: KeyedCaller;
  private readonly prefix: string;
  // Made when first used (most steps use neither): a step attempt allocates little.
  private journalMade: Journal | undefined;
  private timersMade: Timers | undefined;
  private abandoned = false;

  constructor(
    private readonly workflowName: string,
    readonly workflowId: string,
    execId: number,
    readonly attempt: number,
    /** The execution's first run, on the node that decided it (record.ts firstRunOf): none of its keys was sent. */
    firstRun: boolean,
    keyedCall: KeyedCall,
    private readonly timerService: StartsTimers,
    private readonly holds?: StepHolds,
    private readonly journalDeps?: { store: Store; clock: Clock; step: string; commitMark: CommitsMark },
    /** An operator's retry of this execution: what its calls got refused is decided again. */
    decideRefusalAgain = false,
    /** Told when something of this attempt took effect on its own: a call kept, a result journaled, a timer changed. */
    private readonly kept: () => void = () => {},
  ) {
    this.prefix = stepKeyOf(workflowName, workflowId, execId);
    this.caller = new KeyedCaller(
      this.prefix,
      keyedCall,
      holds,
      decideRefusalAgain,
      (call, marked) => (marked ? this.kept() : this.keptByItself(call.key, { call: keptCall(call.component, call.id, call.command, call.input) })),
      earlierRuns(firstRun, attempt),
    );
  }

  /**
   * A call or a timer change (`key` under the execution's) that committed by itself, its mark not
   * with it (journal.ts markKept): `kept`, and a mark in the journal saying what it was, so that a
   * re-run after a crash knows too, and an operator can see it. A `ctx.run` result is its own mark.
   */
  private keptByItself(key: string, effect: KeptEffect): void {
    const deps = this.journalDeps;
    if (deps) markKept(deps.commitMark, this.workflowName, this.workflowId, key, deps.step, effect, deps.clock.now());
    this.kept();
  }

  get timers(): Timers {
    if (!this.timersMade) {
      // Keyed by the execution: a re-run starting them again (after the first fired) changes their targets once.
      const now = () => this.journalDeps?.clock.now() ?? Date.now();
      const keyed = timersTelling(keyedTimers(this.timerService, this.prefix), this.timerService, now, (name, change) => this.keptByItself(`${this.prefix}:timer:${name}:${change.change}`, { timer: { name, ...change } }));
      this.timersMade = this.holds ? timersAfterStart(keyed, this.holds) : keyed;
    }
    return this.timersMade;
  }

  private get journal(): Journal | undefined {
    const deps = this.journalDeps;
    if (!this.journalMade && deps) {
      this.journalMade = new Journal(deps.store, deps.clock, this.workflowName, this.workflowId, this.prefix, () => this.abandoned, this.kept);
    }
    return this.journalMade;
  }

  abandon(): void {
    this.abandoned = true;
    this.caller.close();
    this.journalMade?.abort();
  }

  /** Resolves once no `ctx.run` of this attempt is under way (see WorkflowEngine's lingering runs). */
  runsSettled(): Promise<void> {
    return this.journalMade?.settled() ?? Promise.resolve();
  }

  /** Whether a `ctx.run` of this attempt is under way: ended now, the attempt may have had that outside effect. */
  get runInFlight(): boolean {
    return this.journalMade?.inFlight === true;
  }

  run<T>(name: string, fn: (attempt: RunAttempt) => Promise<T> | T, options?: RunOptions): Promise<T> {
    const journal = this.journal;
    if (!journal) return Promise.reject(new Error("ctx.run is not available here"));
    if (!this.holds) return journal.run(name, fn, options);
    return this.holds.beforeDurable().then(() => journal.run(name, fn, options));
  }

  call<D extends Component>(definition: D, id: string): InstanceClient<D> {
    return this.caller.call(definition, id);
  }

  update(state: unknown): WorkflowEffectRecord {
    return WorkflowEffectRecord.none.update(state);
  }

  transitionTo(step: string, input?: unknown): MovedEffectRecord {
    return WorkflowEffectRecord.none.transitionTo(step, input);
  }

  pause(options?: { timeoutMs?: number; then?: string }): MovedEffectRecord {
    return WorkflowEffectRecord.none.pause(options);
  }

  end(): MovedEffectRecord {
    return WorkflowEffectRecord.none.end();
  }

  fail(code: string, message?: string): MovedEffectRecord {
    return WorkflowEffectRecord.none.fail(code, message);
  }
}

function earlierRuns(firstRun: boolean, attempt: number): EarlierRuns {
  if (firstRun) return "none";
  return attempt > 1 ? "attempts" : "unknown";
}

/** The prefix of every key of a step execution: its calls', its `ctx.run` results', its timers'. */
export function stepKeyOf(workflow: string, id: string, execId: number): string {
  return `${workflowKeysPrefix(workflow, id)}${execId}`;
}

/** What the keys of every step execution of workflow `workflow` `id` start with (stepKeyOf). */
export function workflowKeysPrefix(workflow: string, id: string): string {
  return `wf:${workflow}:${id}:`;
}

/** Timers that tell `kept` of each change made: a started or cancelled timer outlives the step attempt. */
function timersTelling(keyed: Timers, timers: StartsTimers, now: () => number, kept: (name: string, change: Omit<Extract<KeptEffect, { timer: unknown }>["timer"], "name">) => void): Timers {
  return {
    start: async (name, delayMs, call) => {
      await keyed.start(name, delayMs, call);
      kept(name, { change: "started", dueAt: now() + delayMs, call: keptCall(call.component, call.id, call.handler, call.input) });
    },
    cancel: async (name) => {
      // Cancelling a timer that was not there changed nothing.
      if (await timers.remove(name)) kept(name, { change: "cancelled" });
    },
  };
}

/** Timers whose changes wait for the workflow's start to be durable (see StepHolds.beforeDurable). */
function timersAfterStart(timers: Timers, holds: StepHolds): Timers {
  return {
    start: async (name, delayMs, call) => {
      await holds.beforeDurable();
      return timers.start(name, delayMs, call);
    },
    cancel: async (name) => {
      await holds.beforeDurable();
      return timers.cancel(name);
    },
  };
}
