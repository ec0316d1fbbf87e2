import type { Principal } from "../define/auth.ts";
import type { CallOptions, InstanceClient } from "../define/handlers.ts";
import type { Component } from "../define/service.ts";
import type { WorkflowDefinition, WorkflowView } from "../define/workflow.ts";
import type { Dispatcher } from "../runtime/dispatcher.ts";
import type { ViewDefinition } from "../define/view.ts";
import type { ViewQueryOptions } from "../runtime/views/view-service.ts";
import { copyInput, copyReply } from "../runtime/json-copy.ts";
import { cancelledBy } from "../runtime/workflow/end-waiters.ts";

export type { InstanceClient, Caller } from "../define/handlers.ts";

/** What the in-process client needs: calls and workflow results through the dispatcher, and view queries. */
export type ClientDispatcher = Pick<Dispatcher, "call" | "workflowResult" | "component"> & {
  queryView?: (view: string, query: string, params: Record<string, unknown>, options?: ViewQueryOptions) => Promise<unknown>;
};

/**
 * Calls components in process, with types taken from their definitions.
 *
 * @example
 * const app = createSagaflow(service, { store: memoryStore() });
 * await app.start();
 * const { balance } = await app.client.call(wallet, "w1").withdraw({ amount: 5 });
 */
export class Client {
  /**
   * With `principal`, every call carries it, as a call over HTTP with that token would: handlers
   * see it as `fx.principal` and a workflow started records it (an endpoint's `client` is made so).
   */
  constructor(
    private readonly dispatcher: ClientDispatcher,
    private readonly principal?: Principal,
    /** Ends this client's waits (a result's `waitSeconds`) when aborted: an endpoint's request signal. */
    private readonly signal?: AbortSignal,
  ) {}

  /** This client's calls made on behalf of `principal`; its waits ended by `signal` too, when given. */
  actingFor(principal: Principal | undefined, signal?: AbortSignal): Client {
    return principal === undefined && signal === undefined ? this : new Client(this.dispatcher, principal, signal);
  }

  /**
   * A workflow's `{ id, status, step, state }`; with `waitSeconds`, once it is over (ended,
   * failed or terminated) or when the wait runs out. `signal` ends the wait early (it rejects
   * with the signal's reason); in an endpoint, the request's signal does so already.
   */
  async result<S>(definition: WorkflowDefinition<S>, id: string, waitSeconds = 0, options: { signal?: AbortSignal } = {}): Promise<WorkflowView<S>> {
    const signal = options.signal ?? this.signal;
    const view = await this.dispatcher.workflowResult(definition.name, id, waitSeconds * 1000, signal && cancelledBy(signal));
    return copyReply(view, definition.name, "result") as WorkflowView<S>;
  }

  /**
   * Runs a view's named query, as `GET /views/{view}/{query}` does (exposed or not):
   * `{ <name>: rows, nextPageToken? }` or `{ count }`.
   */
  async query<Q extends Record<string, string>>(
    definition: ViewDefinition<Q>,
    query: keyof Q & string,
    params: Record<string, unknown> = {},
    options: ViewQueryOptions = {},
  ): Promise<unknown> {
    if (!this.dispatcher.queryView) throw new TypeError("this client cannot query views");
    return this.dispatcher.queryView(definition.name, query, params, options);
  }

  call<D extends Component>(definition: D, id: string): InstanceClient<D> {
    const dispatcher = this.dispatcher;
    const principal = this.principal;
    if (dispatcher.component(definition.name) !== definition) {
      throw new TypeError(`component "${definition.name}" is not part of this service`);
    }
    return new Proxy({} as InstanceClient<D>, {
      get(_target, handler) {
        if (typeof handler !== "string") return undefined;
        // Copies both ways: the caller's objects and the instance's state never share a reference.
        return async (input?: unknown, options?: CallOptions) =>
          copyReply(await dispatcher.call(definition.name, id, handler, copyInput(input, definition.name, handler), principal ? { ...options, principal } : options), definition.name, handler);
      },
    });
  }
}
