import type { CallOptions, InstanceClient } from "../define/handlers.ts";
import type { Component } from "../define/service.ts";
import type { Runtime } from "../runtime/runtime.ts";

export type { InstanceClient, Caller } from "../define/handlers.ts";
import type { WorkflowDefinition, WorkflowView } from "../define/workflow.ts";

/**
 * Calls components in process, with types taken from their definitions.
 *
 * @example
 * const client = new Client(runtime);
 * const { balance } = await client.call(wallet, "w1").withdraw({ amount: 5 });
 */
export class Client {
  constructor(private readonly runtime: Runtime) {}

  /**
   * A workflow's `{ id, status, step, state }`; with `waitSeconds`, once it is over (ended,
   * failed or terminated) or when the wait runs out.
   */
  async result<S>(definition: WorkflowDefinition<S>, id: string, waitSeconds = 0): Promise<WorkflowView<S>> {
    return (await this.runtime.workflowResult(definition.name, id, waitSeconds * 1000)) as WorkflowView<S>;
  }

  call<D extends Component>(definition: D, id: string): InstanceClient<D> {
    const runtime = this.runtime;
    if (runtime.component(definition.name) !== definition) {
      throw new TypeError(`component "${definition.name}" is not part of this service`);
    }
    return new Proxy({} as InstanceClient<D>, {
      get(_target, handler) {
        if (typeof handler !== "string") return undefined;
        return (input?: unknown, options?: CallOptions) =>
          runtime.call(definition.name, id, handler, input, options);
      },
    });
  }
}
