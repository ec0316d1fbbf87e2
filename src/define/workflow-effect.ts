import { refusalSpec, type RefusalOptions, type ReplySpec } from "./effect.ts";
import type { Transition } from "./workflow.ts";

/**
 * The one implementation behind a workflow command's `fx` and a step's decisions: an optional
 * new state, an optional transition and (for commands) a reply.
 */
export class WorkflowEffectRecord {
  constructor(
    readonly newState: { state: unknown } | undefined,
    readonly transition: Transition | undefined,
    readonly replySpec: ReplySpec,
  ) {}

  // An effect is never an entity effect: these keep the shared Effect shape honest.
  readonly events = [];
  readonly deletes = false;

  update(state: unknown): WorkflowEffectRecord {
    return new WorkflowEffectRecord({ state }, this.transition, this.replySpec);
  }

  transitionTo(step: string, input?: unknown): MovedEffectRecord {
    return new MovedEffectRecord(this.newState, { kind: "step", step, input }, this.replySpec);
  }

  pause(options: { timeoutMs?: number; then?: string } = {}): MovedEffectRecord {
    const transition: Transition = { kind: "pause", timeoutMs: options.timeoutMs, then: options.then };
    return new MovedEffectRecord(this.newState, transition, this.replySpec);
  }

  end(): MovedEffectRecord {
    return new MovedEffectRecord(this.newState, { kind: "end" }, this.replySpec);
  }

  fail(code: string, message?: string): MovedEffectRecord {
    return new MovedEffectRecord(this.newState, { kind: "fail", code, message: message ?? code }, this.replySpec);
  }

  reply(value: unknown): WorkflowEffectRecord {
    return new WorkflowEffectRecord(this.newState, this.transition, { kind: "value", value });
  }

  static readonly none = new WorkflowEffectRecord(undefined, undefined, { kind: "none" });

  static error(code: string, message?: string, options?: RefusalOptions): WorkflowEffectRecord {
    return new WorkflowEffectRecord(undefined, undefined, refusalSpec(code, message, options));
  }
}

/** An effect that moves the workflow on: what a step returns (a `StepEffect`). */
export class MovedEffectRecord extends WorkflowEffectRecord {
  declare readonly transition: Transition;

  constructor(newState: { state: unknown } | undefined, transition: Transition, replySpec: ReplySpec) {
    super(newState, transition, replySpec);
  }
}

/** The `fx` handed to workflow commands and queries. */
export const workflowEffects = {
  update: (state: unknown) => WorkflowEffectRecord.none.update(state),
  transitionTo: (step: string, input?: unknown) => WorkflowEffectRecord.none.transitionTo(step, input),
  pause: (options?: { timeoutMs?: number; then?: string }) => WorkflowEffectRecord.none.pause(options),
  end: () => WorkflowEffectRecord.none.end(),
  reply: (value: unknown) => WorkflowEffectRecord.none.reply(value),
  error: (code: string, message?: string, options?: RefusalOptions) => WorkflowEffectRecord.error(code, message, options),
};

export function asWorkflowEffect(value: unknown, where: string): WorkflowEffectRecord {
  if (value instanceof WorkflowEffectRecord) return value;
  throw new TypeError(`${where} must return a decision built with its context (ctx.transitionTo, ctx.end, …)`);
}
