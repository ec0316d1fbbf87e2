import type { InstanceClient } from "../define/handlers.ts";
import { errors, refusalError } from "../define/errors.ts";
import type { Component } from "../define/service.ts";
import type { KeyedCall, KeyedCallOptions } from "./dispatcher.ts";
import type { StepCall, StepHolds } from "./held-writes.ts";
import { copyInput, copyReply } from "./json-copy.ts";

export type { KeyedCall };

/**
 * What ran before under a caller's keys: `none` (a step execution's first run, on the node that
 * decided it: no key of it was ever sent), `attempts` (a retried step attempt: an earlier one may
 * have kept its calls) or `unknown` (a consumer message, a timer, a step run again after a crash).
 */
export type EarlierRuns = "none" | "attempts" | "unknown";

/**
 * Calls components on behalf of a workflow step, a consumer message or a timer. Call number n
 * gets the key `{prefix}:{n}`, the same on every re-run of the same source, so the target
 * returns its stored reply instead of acting twice. Once closed, it refuses to send more.
 */
export class KeyedCaller {
  private callIndex = 0;
  private closed = false;
  private readonly options: KeyedCallOptions;

  constructor(
    private readonly prefix: string,
    private readonly keyedCall: KeyedCall,
    /** A workflow step's: each call's write may be held until the step ends (see held-writes.ts). */
    private readonly holds?: StepHolds,
    /** A run an operator asked for again: what was refused under these keys is decided again. */
    decideRefusalAgain = false,
    /** A workflow step's: told of each call whose effect is kept on its own, and whether its journal mark committed with it (see Pending.kept). */
    private readonly kept?: (call: StepCall, marked: boolean) => void,
    /** See EarlierRuns: DispatchOptions.keyUnsent for `none`, DispatchOptions.mayBeKept for `attempts`. */
    earlier: EarlierRuns = "unknown",
  ) {
    // Assigned, not spread: one of these is made for every step attempt, consumer message and timer.
    const options: KeyedCallOptions = {};
    if (holds) options.hold = holds;
    if (decideRefusalAgain) options.decideRefusalAgain = true;
    if (earlier === "attempts") options.mayBeKept = true;
    else if (earlier === "none") options.keyUnsent = true;
    this.options = options;
  }

  /** Stops sending: a run the engine gave up on (timed out) must not act any more. */
  close(): void {
    this.closed = true;
  }

  call<D extends Component>(definition: D, id: string): InstanceClient<D> {
    return new Proxy({} as InstanceClient<D>, {
      get: (_target, handler) => {
        if (typeof handler !== "string") return undefined;
        return (input?: unknown) => this.send(definition.name, id, handler, input);
      },
    });
  }

  private async send(component: string, id: string, handler: string, input: unknown): Promise<unknown> {
    if (this.closed) throw errors.runAbandoned();
    const key = `${this.prefix}:${this.callIndex++}`;
    // The write held for the previous call commits first: a step holds one entity at a time.
    if (this.holds) await this.holds.flush();
    // Copies both ways: the step's or handler's objects and the target's state never share a reference.
    const kept = this.kept;
    const copied = copyInput(input ?? {}, component, handler);
    const options = kept ? { ...this.options, kept: (marked: boolean) => kept({ component, id, command: handler, input: copied, key }, marked) } : this.options;
    const reply = await this.keyedCall(component, id, handler, copied, key, options);
    if (reply.ok) return copyReply(reply.value, component, handler);
    throw refusalError(reply);
  }
}
