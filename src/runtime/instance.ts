import { errors, type SagaflowError } from "../define/errors.ts";
import type { DedupRecord, InstanceWrite, NewEvent, Store, StoredReply, WriteOutcome } from "../store/port.ts";
import { LeaseLostError, type Fence } from "../store/cluster-port.ts";
import type { Current, Decision } from "./decide.ts";
import type { GroupCommitter } from "./group-commit.ts";
import type { EagerStep, HeardChange, Kind, Loaded } from "./kinds.ts";
import { conflictBackoffMs } from "./conflict-backoff.ts";
import { submitUnlocked } from "./submit-unlocked.ts";
import { checkReplyIsJson } from "./json-copy.ts";
import { largest } from "./largest.ts";
import type { HeldWrite, StepHolds } from "./held-writes.ts";
import { startWithSteps, type EagerStage, type EarlierWrite } from "./eager-start.ts";
import { decidedAgainUnder, keysToLookUp, noneStored, storedReplies } from "./stored-replies.ts";
import { turnReads } from "./turn-reads.ts";
import { marksOfCalls, noneRefused, prefixesDurable, trackUntilAnswered, unheldRefusals } from "./unheld-calls.ts";
import type { Pending } from "./pending.ts";
import { takeTurn, untilOneReady } from "./mailbox-turns.ts";

export interface InstanceDeps {
  store: Store;
  committer: GroupCommitter;
  now: () => number;
  /** Waits on the runtime's clock (virtual in the testkit), keeping the process alive: an eager start's budget. */
  schedule: (ms: number, fn: () => void) => { cancel(): void };
  mailboxLimit: number;
  /** The most commands decided together and committed as one write. */
  maxTurn: number;
  conflictRetries: number;
  /**
   * Several nodes: another node may have written the instance since it was cached here, so each
   * turn first brings the cached copy up to date (Kind.refresh: one read).
   */
  checkCache: boolean;
  /** Whether no other node was live at the last heartbeat (Membership.alone). */
  alone: () => boolean;
  onHandlerError: (error: unknown, where: string) => SagaflowError;
  /** The instance's last commit left it lasting (Kind.lasting): it will never change again. */
  onLasting: (component: string, id: string) => void;
}

/** How long a task trusts the instance's own last commit without asking the store (see committedState). */
const TASK_TRUSTS_OWN_COMMIT_MS = 100;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * `answered`: the pending was answered already (a held write's reply, given before its commit).
 * `marked`: a step call's journal mark committed with it (marksOfCalls).
 */
type Outcome = { reply: StoredReply; marked?: true } | { error: unknown } | { answered: true };

/**
 * One (component, id): the single writer. Commands wait in a mailbox and are handled in
 * arrival order. Each turn takes everything waiting, decides it in order against the state,
 * commits all of it as one write, and only then answers every command of the turn.
 */
export class Instance {
  private readonly mailbox: Pending[] = [];
  private running = false;
  private loaded: Loaded | undefined;
  /**
   * A copy known to be behind the store (a commit decided on it was a conflict or was not kept):
   * not used as it is, but brought up to date by the next turn (Kind.refresh), not loaded whole.
   */
  private behind: Loaded | undefined;
  /** Another node's commit signal named this instance since `loaded` was read or committed. */
  private toldWrittenElsewhere = false;
  /** When (performance.now()) this instance last committed `loaded` itself. */
  private committedAt = -Infinity;
  private lastPosition: number | undefined;
  /** While a task does I/O: set when something arrives, and the wake-up of the loop that waits for it. */
  private arrived = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly kind: Kind,
    private readonly component: string,
    private readonly id: string,
    private readonly deps: InstanceDeps,
  ) {}

  get idle(): boolean {
    return !this.running && this.mailbox.length === 0;
  }

  /**
   * The state as last committed, where it may be read without asking the store: always on a store
   * of one node (this instance is its only writer); on a shared one, for a moment after this
   * instance committed it itself (as `committedState` trusts it). Undefined otherwise.
   */
  trustedState(): Current | undefined {
    if (!this.loaded) return undefined;
    if (this.deps.checkCache && !this.committedJustNow) return undefined;
    return this.loaded;
  }

  /** Whether this instance committed `loaded` itself a moment ago (TASK_TRUSTS_OWN_COMMIT_MS). */
  private get committedJustNow(): boolean {
    return performance.now() - this.committedAt < TASK_TRUSTS_OWN_COMMIT_MS;
  }

  enqueue(pending: Pending): void {
    if (this.mailbox.length >= this.deps.mailboxLimit) {
      pending.reject(errors.overloaded(`the mailbox of ${this.component} "${this.id}"`));
      return;
    }
    this.mailbox.push(pending);
    this.arrived = true;
    this.wake?.();
    if (!this.running) {
      this.running = true;
      void this.drain();
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.mailbox.length > 0) {
        const turn = takeTurn(this.mailbox, this.deps.maxTurn);
        if (turn.length === 0) {
          await this.untilReadyOrArrived();
          continue;
        }
        const outcomes = await this.runTurn(turn);
        turn.forEach((pending, i) => {
          const outcome = outcomes[i]!;
          if ("reply" in outcome) {
            if (outcome.reply.ok) pending.kept?.(outcome.marked === true);
            pending.resolve(outcome.reply, this.lastPosition);
          }
          else if ("error" in outcome) pending.reject(outcome.error);
        });
      }
    } finally {
      this.running = false;
    }
  }

  /** Every call in the mailbox waits for its eager start's commit (takeTurn): until one may go, or something else arrives. */
  private async untilReadyOrArrived(): Promise<void> {
    await Promise.race([untilOneReady(this.mailbox), new Promise<void>((resolve) => (this.wake = resolve))]);
    this.wake = undefined;
  }

  /**
   * Decides and commits one turn, retrying from a fresh load when another writer got there first
   * (another node on the same PostgreSQL schema): `conflictRetries` retries, after a
   * random back-off (see conflictBackoffMs), before the turn's commands fail with write_conflict.
   */
  private async runTurn(turn: Pending[]): Promise<Outcome[]> {
    for (let attempt = 0; attempt <= this.deps.conflictRetries; attempt++) {
      if (attempt > 1) await sleep(conflictBackoffMs(attempt));
      try {
        // The first retry may presume a start's workflow new again: an eager start's conflict is
        // mostly on an entity its steps called; one that met a stored record conflicts once more, then reads.
        const result = await this.tryTurn(turn, attempt);
        if (result) return result;
      } catch (error) {
        // The store failed: nothing of the turn was kept; read again before anything else runs.
        this.fellBehind();
        return turn.map(() => ({ error }));
      }
      this.fellBehind();
    }
    return turn.map(() => ({ error: errors.conflict(this.component, this.id) }));
  }

  /** `attempt`: 0 for the turn's first try (see runTurn). */
  private async tryTurn(turn: Pending[], attempt: number): Promise<Outcome[] | undefined> {
    const only = turn.length === 1 && !turn[0]!.isQuery && !turn[0]!.task ? turn[0] : undefined;
    const presumed = attempt <= 1 && !this.loaded && only ? this.kind.presumeNew?.(only.handler) : undefined;
    // A call from an eager start's step commits with the start or not at all: its key was never
    // sent, and the commit checks the version of the copy its write was decided on (EagerPrefix.startPending).
    const withStart = turn.length === 1 && turn[0]!.hold?.startPending === true;
    const trusted = withStart ? this.deps.alone() || !this.toldWrittenElsewhere : turn[0]?.task !== undefined && this.committedJustNow;
    // Decided on the cached copy without reading it, another node may have written (see below).
    const unreadCopy = withStart && trusted && this.deps.checkCache && this.loaded !== undefined;
    const keys = withStart ? [] : keysToLookUp(turn, attempt === 0); // the records to read: most turns have none
    // Step calls committing unheld, with other commands (see takeTurn); none in most turns.
    const unheldCalls = turn.length > 1 ? turn.filter((p) => p.hold !== undefined && !p.isQuery) : [];
    // Independent reads, sent together: on PostgreSQL the turn waits for one round trip, not two.
    const [before, stored, prefixFailures] = await turnReads(
      presumed ?? this.committedState(trusted),
      keys.length > 0 ? storedReplies(this.deps.store, this.component, this.id, keys) : noneStored,
      unheldCalls.length > 0 ? prefixesDurable(unheldCalls) : noneRefused,
    );
    // After the reads, just before deciding (see unheldRefusals).
    const unheld = unheldCalls.length > 0 ? unheldRefusals(unheldCalls, prefixFailures) : noneRefused;
    let current: Current = before;
    const events: NewEvent[] = [];
    const dedup: DedupRecord[] = [];
    const notes: string[] = [];
    const seen = new Map<string, DedupRecord>();
    let changed = false;
    /** The traceparent of the last command of the turn that changed something. */
    let trace: string | undefined;

    const task = turn[0]?.task;
    if (task) {
      // The task's I/O (a step's calls) runs without holding the mailbox: reads are answered meanwhile.
      const { outcome, decision } = await this.serveReadsWhile(this.runTask(task, before), () => before);
      if (decision?.changed) {
        current = decision.next;
        changed = true;
        if (decision.note !== undefined) notes.push(decision.note);
      }
      return (await this.commitTurn(before, current, changed, events, dedup, notes, { fence: decision?.fence, held: decision?.held })) ? [outcome] : undefined;
    }
    const outcomes = turn.map((pending): Outcome => {
      const refused = unheld.get(pending);
      if (refused !== undefined) return { error: refused };
      const key = pending.idempotencyKey;
      const found = key === undefined ? undefined : (seen.get(key) ?? stored.get(key));
      const againUnder = decidedAgainUnder(pending, found, key !== undefined && seen.has(key));
      const earlier = againUnder === undefined ? found : undefined;
      if (earlier) {
        return earlier.requestHash === pending.requestHash
          ? { reply: earlier.reply }
          : { error: errors.idempotencyConflict(earlier.key) };
      }
      if (current.deleted) return { error: errors.deleted(this.component, this.id) };
      let decision;
      try {
        decision = this.kind.decide(current, pending.handler, pending.input, pending.isQuery, this.id, pending.principal, pending.trace);
        if (!pending.isQuery && (decision.changed || key !== undefined)) checkReplyIsJson(decision.reply, this.component, pending.handler);
      } catch (error) {
        return { error: this.deps.onHandlerError(error, `${this.component}.${pending.handler}`) };
      }
      if (decision.changed) {
        if (pending.trace === undefined) for (const e of decision.events) events.push(e); // (not push(...): a command may emit more events than a call takes arguments)
        else for (const e of decision.events) events.push({ ...e, trace: pending.trace });
        trace = pending.trace ?? trace;
        current = decision.next;
        changed = true;
        if (decision.note !== undefined) notes.push(decision.note);
      }
      if (key !== undefined && !pending.isQuery) {
        const record = { key: againUnder ?? key, requestHash: pending.requestHash!, reply: decision.reply, at: this.deps.now() };
        dedup.push(record);
        seen.set(key, record);
      }
      return { reply: decision.reply };
    });

    // A presumed-new instance is confirmed only by a commit that writes its record.
    if (presumed && !changed) return undefined;
    // A call that changes nothing gives the start's commit no version to check: on a copy nobody
    // read, its answer (a refusal, a query) could rest on a state another node has since changed
    // (its signal still on its way). It is decided again on what is stored.
    if (unreadCopy && !changed) return undefined;
    const holds = turn.length === 1 ? turn[0]!.hold : undefined;
    if (holds?.abandoned) return [{ error: errors.runAbandoned() }];
    if (holds && (changed || dedup.length > 0)) {
      if (this.kind.holdable) {
        const write = this.kind.write(this.id, before, current, events, dedup, notes);
        if (trace !== undefined) write.trace = trace;
        const held = await this.holdWrite(holds, turn[0]!, outcomes[0]!, write, before, current, events);
        if (held) return [held];
      }
      // A step's call that commits on its own: the calling workflow's eager start first (held-writes.ts).
      await holds.beforeDurable();
      // Its step may have been stopped meanwhile; from here on it waits for this commit.
      if (holds.abandoned) return [{ error: errors.runAbandoned() }];
      trackUntilAnswered(turn[0]!);
    }
    // A store that cannot commit two instances together gets the marks after (journal.ts markKept).
    const marks = this.deps.store.commitsTogether === true ? marksOfCalls({ component: this.component, id: this.id }, turn, outcomes, seen) : [];
    const first = only && changed && before.state === null ? this.kind.eagerStep?.(this.id, current) : undefined;
    if (first && "reply" in outcomes[0]!) {
      return this.startEagerly(first, only!, outcomes[0], { before, next: current, dedup, notes, trace, marks });
    }
    return (await this.commitTurn(before, current, changed, events, dedup, notes, { trace, marks })) ? outcomes : undefined;
  }

  /**
   * Hands a step's call's write to the step (`holds`) instead of committing it: the step gets the
   * reply now, and this instance takes nothing else from its mailbox until the write is committed
   * with the step's transition (or alone) or dropped. Undefined when the step takes no more holds.
   */
  private async holdWrite(
    holds: StepHolds,
    pending: Pending,
    outcome: Outcome,
    write: InstanceWrite,
    before: Loaded,
    after: Current,
    events: NewEvent[],
  ): Promise<Outcome | undefined> {
    if (!("reply" in outcome) || pending.idempotencyKey === undefined) return undefined;
    let settled!: (result: WriteOutcome | undefined) => void;
    const committed = new Promise<WriteOutcome | undefined>((resolve) => (settled = resolve));
    if (!holds.offer({ write, command: pending.handler, input: pending.input, key: pending.idempotencyKey, settle: (result) => settled(result) })) return undefined;
    pending.resolve(outcome.reply, this.lastPosition);
    const result = await committed;
    if (result?.ok) {
      if (result.positions.length > 0) this.lastPosition = largest(result.positions);
      this.loaded = { ...after, version: this.kind.versionAfter(before, events, after) };
      this.committedAt = performance.now();
    } else if (after !== before) {
      // Dropped or refused: nothing of it was kept. (A refusal's write changes nothing the copy holds.)
      this.fellBehind();
    }
    return { answered: true };
  }

  /** A workflow's start with the steps due right after it (WorkflowOptions.eagerStart; see ./eager-start.ts). */
  private async startEagerly(first: EagerStep, pending: Pending, outcome: { reply: StoredReply; marked?: true }, start: EagerStage): Promise<Outcome[] | undefined> {
    const ended = await startWithSteps(
      {
        kind: this.kind,
        component: this.component,
        id: this.id,
        loaded: () => this.loaded,
        schedule: this.deps.schedule,
        runStep: async (step, current, committed) => {
          const { decision } = await this.serveReadsWhile(this.runTask(step, current), committed);
          return decision?.changed ? decision : undefined;
        },
        commit: (before, next, dedup, notes, options) => this.commitTurn(before, next, true, [], dedup, notes, options),
        forget: () => this.fellBehind(),
        answerStart: () => {
          if (outcome.reply.ok) pending.kept?.(outcome.marked === true);
          pending.resolve(outcome.reply, this.lastPosition);
          this.wake?.(); // reads waiting for the start can now be answered
        },
      },
      first,
      start,
    );
    if (ended === "conflict") return undefined;
    return ended === "committed" ? [outcome] : [{ answered: true }];
  }

  /**
   * Waits for `running` (a task's I/O), answering meanwhile what reads the committed state without
   * changing it: queries, and commands without an idempotency key that decide to change nothing,
   * at the head of the mailbox. The first one that would write waits for the task, and so does
   * everything behind it (arrival order). Nothing is answered while `committed` gives undefined.
   */
  private async serveReadsWhile<T>(running: Promise<T>, committed: () => Loaded | undefined): Promise<T> {
    let done = false;
    const finished = () => {
      done = true;
      this.wake?.();
    };
    void running.then(finished, finished);
    while (!done) {
      this.arrived = false;
      const state = committed();
      if (state) await this.answerReads(state);
      if (done || this.arrived) continue;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return running;
  }

  private async answerReads(committed: Loaded): Promise<void> {
    let view: Current | undefined;
    while (this.mailbox.length > 0) {
      const head = this.mailbox[0]!;
      if (head.task || head.hold || head.idempotencyKey !== undefined) return;
      try {
        // Several nodes: another one may have committed a command since; read what is stored.
        view ??= this.deps.checkCache ? await this.kind.refresh(this.deps.store, this.id, committed) : committed;
      } catch {
        return; // the store is out of reach: they wait for the task, as before
      }
      if (this.mailbox[0] !== head) continue;
      if (view.deleted) {
        this.mailbox.shift();
        head.reject(errors.deleted(this.component, this.id));
        continue;
      }
      let decision: Decision;
      try {
        decision = this.kind.decide(view, head.handler, head.input, head.isQuery, this.id);
      } catch (error) {
        this.mailbox.shift();
        head.reject(this.deps.onHandlerError(error, `${this.component}.${head.handler}`));
        continue;
      }
      if (decision.changed) return;
      this.mailbox.shift();
      head.resolve(decision.reply, this.lastPosition);
    }
  }

  /**
   * Commits what a turn decided; false when another writer got there first. Optionally: a task's
   * fence and held write, the command's trace, `earlier` writes that commit just before it in
   * the same transaction (an eager start's start and steps), each with the held write it carries,
   * and the journal `marks` of step calls the turn decided (marksOfCalls).
   */
  private async commitTurn(
    before: Loaded,
    current: Current,
    changed: boolean,
    events: NewEvent[],
    dedup: DedupRecord[],
    notes: string[],
    { fence, held, trace, earlier = [], marks = [] }: { fence?: Fence | undefined; held?: HeldWrite | undefined; trace?: string | undefined; earlier?: EarlierWrite[]; marks?: InstanceWrite[] } = {},
  ): Promise<boolean> {
    if (!changed && dedup.length === 0 && !held) return true;
    const write = this.kind.write(this.id, before, current, events, dedup, notes);
    if (fence) write.fence = fence;
    if (trace !== undefined) write.trace = trace;
    // The marks last: a held write's or an earlier write's outcome is found at its index.
    const together = [...earlier.map((e) => e.write), ...(held ? [held.write] : []), ...marks];
    if (together.length > 0) write.together = together;
    const helds = [...earlier.map((e) => e.held), held];
    let result: WriteOutcome;
    try {
      result = await submitUnlocked(this.deps, write, `${this.component} "${this.id}"`);
    } catch (error) {
      for (const h of helds) h?.settle(undefined);
      throw error;
    }
    helds.forEach((h, i) => h?.settle(result.ok ? { ok: true, positions: result.together?.[i] ?? [] } : result));
    // Another node holds the lease now: its holder carries on from the stored state.
    if (!result.ok && result.reason === "fenced") throw new LeaseLostError(fence?.lease ?? "?");
    if (!result.ok) return false;
    const own = earlier.flatMap((e, i) => (e.held ? [] : (result.together?.[i] ?? [])));
    const positions = [...result.positions, ...own];
    if (positions.length > 0) this.lastPosition = largest(positions);
    this.loaded = { ...current, version: this.kind.versionAfter(before, events, current) };
    this.committedAt = performance.now();
    this.kind.afterCommit?.(this.id, this.loaded);
    if (this.kind.lasting?.(this.loaded)) this.deps.onLasting(this.component, this.id);
    return true;
  }

  /** Runs a task against the committed state; its decision is committed like a command's. */
  private async runTask(
    task: (current: Current) => Promise<Decision>,
    before: Current,
  ): Promise<{ outcome: Outcome; decision?: Decision }> {
    try {
      const decision = await task(before);
      return { outcome: { reply: decision.reply }, decision };
    } catch (error) {
      return { outcome: { error } };
    }
  }

  /**
   * The instance as stored: the cached copy, brought up to date first when several nodes share the
   * store (unless `trusted`), in one read that finds it current or brings what another node wrote.
   *
   * A task (a workflow step) trusts a copy this instance committed itself a moment ago: the step's
   * commit checks the version in any case, and a write from another node landing in those few ms
   * is no different from one landing while the step runs (the commit is a conflict, nothing of the
   * step is kept, and it runs again on what is stored). Saves a transfer two of its round trips.
   * A call from an eager start's step (`withStart`), whose commit is the start's (it checks every
   * version), trusts the copy while no other node is live, or while no other node's commit signal
   * named the instance since the copy was read: otherwise the whole start would be a conflict.
   * (A signal still on its way when the copy is trusted makes that conflict: rare, and safe.)
   * A copy that needs no read comes back as it is, not in a promise.
   */
  private committedState(trusted: boolean): Loaded | Promise<Loaded> {
    if (this.loaded && (!this.deps.checkCache || trusted)) return this.loaded;
    return this.readCommittedState(trusted);
  }

  private async readCommittedState(trusted: boolean): Promise<Loaded> {
    if (this.loaded && this.deps.checkCache && !trusted) {
      this.toldWrittenElsewhere = false; // cleared before the read: a signal during it counts
      this.loaded = await this.kind.refresh(this.deps.store, this.id, this.loaded);
    }
    if (!this.loaded) {
      this.toldWrittenElsewhere = false;
      this.loaded = this.behind ? await this.kind.refresh(this.deps.store, this.id, this.behind) : await this.kind.load(this.deps.store, this.id);
      this.behind = undefined;
    }
    return this.loaded;
  }

  /**
   * Another node's commit changed this instance (its signal said so). With what it changed: an idle
   * copy that includes the commit stays trusted, and one just before it is brought up to date in
   * memory (Kind.heard); otherwise the copy is behind, and the next turn that needs it reads.
   */
  writtenElsewhere(change?: HeardChange): void {
    if (change && this.loaded && this.idle) {
      const heard = this.kind.heard?.(this.loaded, change);
      if (heard === "current") return;
      if (heard) {
        this.loaded = heard;
        return;
      }
    }
    this.toldWrittenElsewhere = true;
  }

  /** The cached copy may be behind the store: nothing uses it until a turn brings it up to date. */
  private fellBehind(): void {
    this.behind = this.loaded ?? this.behind;
    this.loaded = undefined;
  }
}
