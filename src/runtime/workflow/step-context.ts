import type { InstanceClient } from "../../client/client.ts";
import { SagaflowError } from "../../define/errors.ts";
import type { Component } from "../../define/service.ts";
import { WorkflowEffectRecord } from "../../define/workflow-effect.ts";
import type { StoredReply } from "../../store/port.ts";

export type KeyedCall = (
  component: Component,
  id: string,
  handler: string,
  input: unknown,
  idempotencyKey: string,
) => Promise<StoredReply>;

/**
 * What a running step sees. Each component call gets the key
 * `wf:{workflow}:{id}:{execution}:{call index}`: the same on every run of this step execution,
 * so a re-run after a crash or timeout gets the stored replies. Once the engine has given up on
 * a run (timeout), its context refuses further calls.
 */
export class StepContextImpl {
  private callIndex = 0;
  private abandoned = false;

  constructor(
    private readonly workflowName: string,
    readonly workflowId: string,
    private readonly execId: number,
    readonly attempt: number,
    private readonly keyedCall: KeyedCall,
  ) {}

  abandon(): void {
    this.abandoned = true;
  }

  call<D extends Component>(definition: D, id: string): InstanceClient<D> {
    return new Proxy({} as InstanceClient<D>, {
      get: (_target, handler) => {
        if (typeof handler !== "string") return undefined;
        return (input?: unknown) => this.send(definition, id, handler, input);
      },
    });
  }

  private async send(definition: Component, id: string, handler: string, input: unknown): Promise<unknown> {
    if (this.abandoned) {
      throw new SagaflowError("step_abandoned", "this step run timed out; its calls are no longer sent", {
        retryable: true,
        status: 503,
      });
    }
    const key = `wf:${this.workflowName}:${this.workflowId}:${this.execId}:${this.callIndex++}`;
    const reply = await this.keyedCall(definition, id, handler, input ?? {}, key);
    if (reply.ok) return reply.value;
    throw new SagaflowError(reply.code, reply.message);
  }

  update(state: unknown): WorkflowEffectRecord {
    return WorkflowEffectRecord.none.update(state);
  }

  transitionTo(step: string, input?: unknown): WorkflowEffectRecord {
    return WorkflowEffectRecord.none.transitionTo(step, input);
  }

  pause(options?: { timeoutMs?: number; then?: string }): WorkflowEffectRecord {
    return WorkflowEffectRecord.none.pause(options);
  }

  end(): WorkflowEffectRecord {
    return WorkflowEffectRecord.none.end();
  }

  fail(code: string, message?: string): WorkflowEffectRecord {
    return WorkflowEffectRecord.none.fail(code, message);
  }
}
