import type { InstanceWrite, WriteOutcome } from "../store/port.ts";
import type { Clock } from "./clock.ts";

/** A call a workflow step made: its target, command and input, and its idempotency key. */
export interface StepCall {
  component: string;
  id: string;
  command: string;
  input: unknown;
  key: string;
}

/**
 * An entity's decided write, not committed yet, that a workflow step holds so that it commits
 * with the step's transition. The entity's instance stays busy until `settle` is called: nobody
 * else sees the state the write leads to before it is durable, nor one that is then dropped.
 */
export interface HeldWrite {
  write: InstanceWrite;
  /** The command that decided it, its input and key (for the journal's mark, should it commit alone). */
  command: string;
  input: unknown;
  key: string;
  /** The commit's outcome for this write (its positions when ok), or undefined: dropped, nothing kept. */
  settle(outcome: WriteOutcome | undefined): void;
}

/**
 * What an eager start has decided and not committed yet (WorkflowOptions.eagerStart): the start,
 * and the steps run since with their held writes, which commit in one transaction.
 */
export interface EagerPrefix {
  /** Commits it now, if not done already (the start is then answered); rejects if it was not kept. */
  commit(): Promise<void>;
  /** Whether it holds writes of other instances (their callers wait until it commits). */
  readonly holdsWrites: boolean;
  /**
   * Not committed yet: what the steps decide commits with the start or not at all. The workflow
   * is presumed new, so its calls' idempotency keys were never sent; and a stale cached copy of
   * an instance they call only makes that commit a conflict (it checks the version of every copy
   * a call wrote on; a call that changes nothing on a copy it did not read is decided again after
   * reading, Instance.tryTurn). Either way nothing is kept, and the start is decided again from
   * what is stored.
   */
  readonly startPending: boolean;
  /** Its commit was started and has not settled yet. */
  readonly committing: boolean;
}

/**
 * The held writes of one step run: at most one at a time. Holding two would let two steps each
 * hold an entity the other calls next and wait on each other until one times out, so a step's
 * next call first commits the write held so far alone (`flush`), as does a step that has not
 * ended `holdMs` after its call was answered (slow work after a call must not keep the entity busy).
 *
 * At the end of the step the engine `take`s the held write and commits it with the transition,
 * all or none (InstanceWrite.together); when the step fails or times out it `drop`s it.
 */
export class StepHolds {
  private held: HeldWrite | undefined;
  private timer: { cancel(): void } | undefined;
  private flushing: Promise<void> | undefined;
  /** A flush that failed: the step must not end as if its call had taken effect. */
  private failure: Error | undefined;
  private closed = false;
  /** The attempt failed, timed out or was stopped (`drop`): its calls must not commit at all. */
  private dropped = false;
  /** Calls committing unheld (trackUnheld), until answered. */
  private readonly unheldInFlight = new Set<Promise<void>>();
  /**
   * Set for a step of an eager start (WorkflowOptions.eagerStart): the start and the steps before
   * this one, not committed yet, which must be durable before anything of this step is on its own.
   */
  prefix: EagerPrefix | undefined;
  /** Told when a held write committed alone (`flush`): part of the step then took effect, whatever becomes of the step. */
  onKeptAlone: (() => void) | undefined;
  /**
   * The journal write that records durably that a call of this step was kept on its own
   * (journal.ts keptMarker): committed with the call's write, all or none (here for a held write
   * committed alone; for a call not held, Instance.tryTurn).
   */
  keptMarker: ((call: StepCall) => InstanceWrite) | undefined;
  /**
   * Whether a call of this step may commit unheld, with other commands of a busy instance (see
   * takeTurn in mailbox-turns.ts): only while this node runs the workflow's bucket (its lease, checked
   * after the turn's reads on each try of the commit: unheld-calls.ts). A call unheld is decided on what is stored and keeps
   * its key's record; where another node may have run the step meanwhile and committed the same
   * call with its transition, keeping no record, that call would be applied twice. A held write
   * is never decided again: it commits with the step's fenced transition, or as it was decided.
   */
  mayCommitUnheld: () => boolean = () => true;

  constructor(
    /** Commits one write on its own (the group committer). */
    private readonly commitAlone: (write: InstanceWrite) => Promise<WriteOutcome>,
    private readonly holdMs: number,
    /** The runtime's clock (its `schedule`), so that a test's virtual clock holds the write too. */
    private readonly clock: Pick<Clock, "schedule">,
    /**
     * False where a step's calls each commit on their own (`stepCommits: "separate"`, a store that
     * cannot commit them together): nothing is held, but the step still refuses its calls once
     * stopped and waits for those being committed (`abandoned`, `trackUnheld`).
     */
    readonly holdsWrites = true,
  ) {}

  /** Takes `held`; false once the step is over or failed, or where nothing is held (the instance then commits as usual). */
  offer(held: HeldWrite): boolean {
    if (!this.holdsWrites || this.closed || this.held || this.failure !== undefined) return false;
    this.held = held;
    // Kept alive: a program whose event loop would otherwise empty still commits the held write.
    this.timer = this.clock.schedule(this.holdMs, () => void this.flush().catch(() => {}), { keepAlive: true });
    return true;
  }

  /** What the step is about to make durable on its own (a call not held, ctx.run, a timer) waits for this. */
  async beforeDurable(): Promise<void> {
    await this.prefix?.commit();
  }

  /** Whether this step's calls commit with its workflow's start (EagerPrefix.startPending): no keys to look up, no staleness to check. */
  get startPending(): boolean {
    return this.prefix?.startPending === true;
  }

  /**
   * A call about to wait for a busy instance: the eager prefix commits first.
   * - One that holds writes of other instances is waited for here: a workflow thus never waits
   *   while it holds one, so two eager starts cannot each hold what the other calls next (nor one
   *   hold what its own later step calls).
   * - Otherwise the call will commit unheld, with the commands queued there, after its start: that
   *   commit starts now, and the call waits for it in the mailbox, in its place, without holding
   *   up the others (waitsForPrefix). Waited for inside the instance's turn instead, it held up
   *   every command of the turn for a commit: on busy wallets, two to four times the step timeouts (bench/hot-sagas.ts).
   */
  async beforeWaiting(): Promise<void> {
    if (this.prefix?.holdsWrites) await this.prefix.commit();
    else if (this.prefix && this.mayCommitUnheld()) void this.prefix.commit().catch(() => {});
  }

  /** Whether this step's eager prefix is being committed: its calls wait for it outside any turn (takeTurn in mailbox-turns.ts). */
  get waitsForPrefix(): boolean {
    return this.prefix?.committing === true;
  }

  /** Settles once this step's eager prefix is committed or refused (at once without one); the refusal reaches the call in its turn (prefixesDurable). */
  async prefixSettled(): Promise<void> {
    await this.prefix?.commit().catch(() => {});
  }

  /** Commits the held write alone (before the step's next call); rejects if it was not kept. */
  async flush(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.flushing) return this.flushing;
    const held = this.release();
    if (!held) return;
    // A command that decided nothing keeps only its reply: nothing of the step took effect by it.
    const changes = changesSomething(held.write);
    this.flushing = (async () => {
      let outcome: WriteOutcome | undefined;
      try {
        await this.beforeDurable();
        // The journal's mark commits with the write, all or none: never after it, nor without it
        // (a mark of a write refused would have the step's failure undo what never took effect).
        const { write, command, input, key } = held;
        const marker = changes ? this.keptMarker?.({ component: write.component, id: write.id, command, input, key }) : undefined;
        outcome = await this.commitAlone(marker ? { ...write, together: [...(write.together ?? []), marker] } : write);
      } catch (error) {
        this.failure = error instanceof Error ? error : new Error(String(error));
        held.settle(undefined);
        throw error;
      } finally {
        this.flushing = undefined;
      }
      held.settle(outcome);
      if (!outcome.ok) {
        this.failure = new Error(`a call's write was refused (${outcome.reason}) when committed on its own`);
        throw this.failure;
      }
      if (changes) this.onKeptAlone?.();
    })();
    return this.flushing;
  }

  /**
   * A call of this step passed its checks to commit unheld: with other commands of a busy instance,
   * or alone where its write is not held (unheld-calls.ts). `answered` settles once it is answered,
   * after its `kept` was told. From here a stopped attempt cannot take it back, so `flushSettled`
   * waits for it as for a flush.
   */
  trackUnheld(answered: Promise<void>): void {
    this.unheldInFlight.add(answered);
    void answered.finally(() => this.unheldInFlight.delete(answered));
  }

  /**
   * Resolves once a flush in flight, and every call committing unheld, is over: a step that failed
   * or was stopped meanwhile then knows whether part of it was kept.
   */
  async flushSettled(): Promise<void> {
    await this.flushing?.catch(() => {});
    await Promise.all(this.unheldInFlight);
  }

  /**
   * The step ended: the held write to commit with its transition (the caller must `settle` it),
   * after any flush in flight. Throws if a flush failed: the step's calls did not all take effect.
   */
  async take(): Promise<HeldWrite | undefined> {
    this.closed = true;
    if (this.flushing) await this.flushing.catch(() => {});
    if (this.failure !== undefined) {
      this.drop();
      throw this.failure;
    }
    return this.release();
  }

  /** The step failed or timed out: its held write is dropped (the entity reloads) and no more are taken. */
  drop(): void {
    this.closed = true;
    this.dropped = true;
    this.release()?.settle(undefined);
  }

  /**
   * The attempt is over without taking effect (dropped). A call of it that reaches its instance
   * only now (sent before the attempt timed out, handled after: a frozen node, a long queue) must
   * not commit on its own: the step runs again — perhaps already did, on another node that took
   * the workflow over and committed the same call with its transition, keeping no idempotency
   * record — and makes the call again under the same key.
   */
  get abandoned(): boolean {
    return this.dropped;
  }

  private release(): HeldWrite | undefined {
    this.timer?.cancel();
    this.timer = undefined;
    const held = this.held;
    this.held = undefined;
    return held;
  }
}

/** Whether a write changes an instance, beyond keeping a reply under its key (a command that decided nothing). */
function changesSomething(write: InstanceWrite): boolean {
  return (write.events?.append.length ?? 0) > 0 || write.kv !== undefined || write.workflow !== undefined;
}
