import type { Component } from "../../define/service.ts";
import { WorkflowEffectRecord, type MovedEffectRecord } from "../../define/workflow-effect.ts";
import type { InstanceClient, Timers } from "../../define/handlers.ts";
import type { StepContext } from "../../define/workflow.ts";
import { KeyedCaller, type KeyedCall } from "../keyed-caller.ts";
import type { StepHolds } from "../held-writes.ts";

export type { KeyedCall };

/**
 * What a running step sees. Component calls get the key `wf:{workflow}:{id}:{execution}:{n}`:
 * the same on every run of this step execution, so a re-run after a crash or timeout gets the
 * stored replies. Once the engine has given up on a run (timeout), its calls are refused.
 */
export class StepContextImpl implements StepContext<unknown, string> {
  private readonly caller: KeyedCaller;

  constructor(
    workflowName: string,
    readonly workflowId: string,
    execId: number,
    readonly attempt: number,
    keyedCall: KeyedCall,
    readonly timers: Timers,
    holds?: StepHolds,
  ) {
    this.caller = new KeyedCaller(`wf:${workflowName}:${workflowId}:${execId}`, keyedCall, holds);
  }

  abandon(): void {
    this.caller.close();
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
