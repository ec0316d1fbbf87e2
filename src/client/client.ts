import type { ReplyOf } from "../define/effect.ts";
import type { Component } from "../define/service.ts";
import type { CallOptions, Runtime } from "../runtime/runtime.ts";
import type { WorkflowDefinition, WorkflowView } from "../define/workflow.ts";

/** Handler names declared in a record (an inferred index signature counts as none). */
type Declared<T> = string extends keyof T ? never : keyof T & string;

type HandlersOf<D> = D extends { commands: infer CM; queries: infer QM }
  ? Pick<CM, Declared<CM>> & Pick<QM, Declared<QM>>
  : never;

/** A typed caller for one handler: input and reply types come from the definition. */
export type Caller<H> = H extends (state: any, input: infer I, fx: any) => infer E
  ? {} extends I
    ? (input?: I, options?: CallOptions) => Promise<ReplyOf<E>>
    : (input: I, options?: CallOptions) => Promise<ReplyOf<E>>
  : never;

/** The commands and queries of one instance, as methods. */
export type InstanceClient<D> = { [K in keyof HandlersOf<D>]: Caller<HandlersOf<D>[K]> };

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
