import { errors } from "../define/errors.ts";
import type { DedupRecord, InstanceWrite } from "../store/port.ts";
import { LeaseLostError, type Fence } from "../store/cluster-port.ts";
import type { Current, Decision } from "./decide.ts";
import type { EagerStep, Kind, Loaded } from "./kinds.ts";
import type { EagerPrefix, HeldWrite } from "./held-writes.ts";

/** How long an eager start waits for its steps before committing what it has. */
const EAGER_START_BUDGET_MS = 50;
/** The most steps an eager start runs before its first commit. */
const MAX_EAGER_STEPS = 8;

/** What an eager start decided for one version of its workflow, not committed yet. */
export interface EagerStage {
  before: Loaded;
  next: Current;
  dedup: DedupRecord[];
  notes: string[];
  trace?: string | undefined;
  fence?: Fence | undefined;
  /** The step's held write, which commits just before the step's transition. */
  held?: HeldWrite | undefined;
  /** The start's: when a workflow's step started it, the journal's mark of that call (marksOfCalls). */
  marks?: InstanceWrite[];
}

/** A write that commits before a turn's own in its transaction, and the held write it is, if one. */
export interface EarlierWrite {
  write: InstanceWrite;
  held?: HeldWrite | undefined;
}

/** What an eager start needs of the workflow's instance (Instance). */
export interface EagerInstance {
  readonly kind: Kind;
  readonly component: string;
  readonly id: string;
  /** The instance as last committed. */
  loaded(): Loaded | undefined;
  schedule(ms: number, fn: () => void): { cancel(): void };
  /** Runs a step on `current`, answering reads meanwhile from what `committed` gives (none while undefined); its decision if it changed something. */
  runStep(step: (current: Current) => Promise<Decision>, current: Current, committed: () => Loaded | undefined): Promise<Decision | undefined>;
  /** Commits `next` on top of `before` (Instance.commitTurn); false when another writer got there first. */
  commit(before: Loaded, next: Current, dedup: DedupRecord[], notes: string[], options: { fence?: Fence | undefined; held?: HeldWrite | undefined; trace?: string | undefined; earlier?: EarlierWrite[]; marks?: InstanceWrite[] }): Promise<boolean>;
  /** The cached copy may be stale: load it again before the next turn. */
  forget(): void;
  /** The start is durable: answer it, and the reads waiting for it. */
  answerStart(): void;
}

/** How an eager start ended: committed with its steps, answered already (its prefix committed first), or a conflict (nothing kept: decide again). */
export type EagerOutcome = "committed" | "answered" | "conflict";

/** What a commit of stages kept: all of them, only the start (the bucket moved to another node; or, handing over, all of them and this node goes no further), or nothing (a conflict). */
type Kept = "all" | "start" | "none";

/**
 * A workflow's start with the steps due right after it (WorkflowOptions.eagerStart): each step
 * runs on the record the one before left, before anything is committed; then the start, each
 * step's held write and its transition commit in one transaction, as the versions they would be
 * one after the other. Whatever a step would make durable on its own (a flushed or unheld call,
 * ctx.run, a timer, a call that must wait for a busy instance) commits what came before it first
 * (`prefix`), and so does a start still running after EAGER_START_BUDGET_MS: the start is
 * answered then, and the step's outcome commits after it like any step's. Nothing is answered or
 * read before the start is durable; a start that meets a stored instance is decided again from a
 * fresh read.
 */
export async function startWithSteps(instance: EagerInstance, first: EagerStep, start: EagerStage): Promise<EagerOutcome> {
  const stages: EagerStage[] = [start];
  let prefixCommit: Promise<Kept> | undefined;
  let prefixSettled = false;
  let startKept = false;
  /** A step ran on a node not running the workflow's bucket (EagerStep.handsOver). */
  let handsOver = false;
  const commitPrefix = () =>
    (prefixCommit ??= commitStagesOrStart(instance, [...stages]).then((kept) => {
      if (kept !== "none") {
        startKept = true;
        instance.answerStart();
      }
      // Handing over, this node goes no further once the start is durable: as if only it were kept.
      return handsOver && kept === "all" ? "start" : kept;
    }).finally(() => (prefixSettled = true)));
  const prefix: EagerPrefix = {
    commit: async () => {
      // Only the start kept: this node no longer runs the workflow, and the step's outcome is dropped.
      if ((await commitPrefix()) !== "all") throw errors.conflict(instance.component, instance.id);
    },
    get holdsWrites() {
      return stages.some((stage) => stage.held !== undefined);
    },
    get startPending() {
      return prefixCommit === undefined;
    },
    get committing() {
      return prefixCommit !== undefined && !prefixSettled;
    },
  };
  const budget = instance.schedule(EAGER_START_BUDGET_MS, () => void commitPrefix().catch(() => {}));
  try {
    for (let step: EagerStep | undefined = first; step; ) {
      const last = stages.at(-1)!;
      const run: EagerStep = step;
      handsOver ||= run.handsOver === true;
      const decided = await instance.runStep((current) => run(current, prefix), last.next, () => (startKept ? instance.loaded() : undefined));
      if (prefixCommit !== undefined) return await afterPrefix(instance, prefixCommit, decided);
      if (!decided) break;
      stages.push({
        before: { ...last.next, version: instance.kind.versionAfter(last.before, [], last.next) },
        next: decided.next,
        dedup: [],
        notes: notesOf(decided),
        fence: decided.fence,
        held: decided.held,
      });
      // A bound, since steps that do no I/O would otherwise chain without yielding to the budget.
      step = stages.length <= MAX_EAGER_STEPS ? instance.kind.eagerStep?.(instance.id, decided.next) : undefined;
    }
  } finally {
    budget.cancel();
  }
  return (await commitStagesOrStart(instance, stages)) === "none" ? "conflict" : "committed";
}

/**
 * The prefix committed (or is committing) while a step ran: that step's outcome commits after it,
 * like any step's; if it is not kept, the engine runs the step again.
 */
async function afterPrefix(instance: EagerInstance, prefixCommit: Promise<Kept>, decided: Decision | undefined): Promise<EagerOutcome> {
  let kept: Kept;
  try {
    kept = await prefixCommit;
  } catch (error) {
    decided?.held?.settle(undefined);
    throw error;
  }
  if (kept !== "all") {
    // A conflict; or only the start was kept, and the bucket's new holder runs the steps.
    decided?.held?.settle(undefined);
    return kept === "none" ? "conflict" : "answered";
  }
  if (decided) {
    const options = { fence: decided.fence, held: decided.held };
    const committed = await instance.commit(instance.loaded()!, decided.next, [], notesOf(decided), options).catch(() => false);
    if (!committed) instance.forget();
  }
  return "answered";
}

/**
 * Commits stages; when a step's fence shows that the workflow's bucket moved to another node
 * (LeaseLostError), the start alone, for the bucket's new holder to run its steps.
 */
async function commitStagesOrStart(instance: EagerInstance, stages: EagerStage[]): Promise<Kept> {
  try {
    return (await commitStages(instance, stages)) ? "all" : "none";
  } catch (error) {
    if (!(error instanceof LeaseLostError) || stages.length === 1) throw error;
    return (await commitStages(instance, [stages[0]!])) ? "start" : "none";
  }
}

/** Commits stages in one transaction: every one but the last as `earlier` writes. */
function commitStages(instance: EagerInstance, stages: EagerStage[]): Promise<boolean> {
  const earlier = stages.slice(0, -1).flatMap((stage): EarlierWrite[] => {
    const write = instance.kind.write(instance.id, stage.before, stage.next, [], stage.dedup, stage.notes);
    if (stage.trace !== undefined) write.trace = stage.trace;
    return [...(stage.held ? [{ write: stage.held.write, held: stage.held }] : []), { write }];
  });
  const last = stages.at(-1)!;
  const marks = stages.flatMap((stage) => stage.marks ?? []);
  return instance.commit(last.before, last.next, last.dedup, last.notes, { fence: last.fence, held: last.held, trace: last.trace, earlier, marks });
}

function notesOf(decision: Decision): string[] {
  return decision.note === undefined ? [] : [decision.note];
}
