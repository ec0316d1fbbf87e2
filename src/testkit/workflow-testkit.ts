import { Client, type ClientDispatcher, type InstanceClient } from "../client/client.ts";
import { keyValue, type KeyValueDefinition } from "../define/key-value.ts";
import { checkDefinitionKind } from "./definition-kind.ts";
import type { Effect } from "../define/effect.ts";
import { SagaflowError } from "../define/errors.ts";
import type { Component } from "../define/service.ts";
import type { StepHandler, WorkflowDefinition, WorkflowView } from "../define/workflow.ts";
import { settle, VirtualClock } from "../runtime/clock.ts";
import { Runtime } from "../runtime/runtime.ts";
import type { OperatorAction } from "../runtime/workflow/engine.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import type { WorkflowTransition } from "../store/port.ts";

export interface WorkflowTestkitOptions {
  /** The components the workflow calls (real ones, or mocks from `mockComponent`). */
  components?: Component[];
}

/** What an injected failure does to a step run: throw this error, or never settle (a timeout). */
export type InjectedFailure = Error | "hang";

/**
 * Runs one workflow in process on an in-memory store with a virtual clock: nothing sleeps; time
 * moves when the test says so (`advance`), firing step timeouts, retry back-offs and pause timeouts.
 *
 * @example
 * const t = await testWorkflow(transfer, { components: [wallet] });
 * await t.client.call(wallet, "a").create({ initialBalance: 10 });
 * await t.start("t1", { from: "a", to: "b", amount: 5 });
 * assert.equal((await t.result("t1")).state.status, "compensated");
 */
export class WorkflowUnderTest<S, SI> {
  readonly clock = new VirtualClock();
  readonly client: Client;
  private readonly runtime: Runtime;
  private readonly failures = new Map<string, InjectedFailure[]>();
  private readonly definition: WorkflowDefinition<S, SI>;

  constructor(definition: WorkflowDefinition<S, SI>, options: WorkflowTestkitOptions = {}) {
    const steps: Record<string, StepHandler<unknown, string>> = {};
    for (const [name, handler] of Object.entries(definition.steps as Record<string, StepHandler<unknown, string>>)) {
      steps[name] = (state, input, ctx) => {
        const failure = this.failures.get(name)?.shift();
        if (failure === "hang") return new Promise(() => {});
        if (failure) throw failure;
        return handler(state, input, ctx);
      };
    }
    this.definition = { ...definition, steps } as WorkflowDefinition<S, SI>;
    this.runtime = new Runtime({
      store: new MemoryStore(),
      components: [this.definition, ...(options.components ?? [])],
      clock: this.clock,
      log: () => {},
    });
    this.client = new SubstitutingClient(this.runtime.dispatcher, definition, this.definition);
  }

  async begin(): Promise<this> {
    await this.runtime.start();
    return this;
  }

  /** The next `times` runs of `step` fail with `failure` (an error, or "hang" to time out). */
  failStep(step: string, times: number, failure: InjectedFailure = new Error(`injected failure of ${step}`)): this {
    if (!Object.hasOwn(this.definition.steps as object, step)) throw new Error(`no step named "${step}"`);
    this.failures.set(step, [...(this.failures.get(step) ?? []), ...Array.from({ length: times }, () => failure)]);
    return this;
  }

  /** Starts an instance and lets it run as far as it can without time passing. */
  async start(id: string, input: SI): Promise<unknown> {
    const reply = await this.runtime.call(this.definition.name, id, "start", input);
    await settle();
    return reply;
  }

  /** Sends a command (or query) to an instance, then lets it run. */
  async command(id: string, name: string, input: unknown = {}): Promise<unknown> {
    const reply = await this.runtime.call(this.definition.name, id, name, input);
    await settle();
    return reply;
  }

  /** An operator's action, as the admin API takes it; `undoneByHand` or `forward` with a saga's retry (see `saga`). */
  async operate(id: string, action: OperatorAction, options: { undoneByHand?: string; forward?: boolean } = {}): Promise<unknown> {
    const reply = await this.runtime.admin.operateWorkflow(this.definition.name, id, action, options);
    await settle();
    return reply;
  }

  /** Moves virtual time on, firing whatever falls due. */
  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  async result(id: string): Promise<WorkflowView<S>> {
    await settle();
    return (await this.runtime.workflowResult(this.definition.name, id)) as WorkflowView<S>;
  }

  /** The transitions so far, oldest first. */
  async history(id: string): Promise<Array<WorkflowTransition & { version: number }>> {
    return this.runtime.store.workflowHistory(this.definition.name, id, 10_000);
  }

  /** Stops the runtime; step attempts waiting on the virtual clock are abandoned, not waited for. */
  async stop(): Promise<void> {
    this.runtime.workflows.abandonAttempts();
    await this.runtime.stop();
  }
}

/** The test's client: calls to the workflow as the test wrote it go to the copy with injectable failures. */
class SubstitutingClient extends Client {
  constructor(
    dispatcher: ClientDispatcher,
    private readonly original: Component,
    private readonly substitute: Component,
  ) {
    super(dispatcher);
  }

  override call<D extends Component>(definition: D, id: string): InstanceClient<D> {
    return super.call((definition === this.original ? this.substitute : definition) as D, id);
  }
}

export async function testWorkflow<S, SI>(
  definition: WorkflowDefinition<S, SI>,
  options: WorkflowTestkitOptions = {},
): Promise<WorkflowUnderTest<S, SI>> {
  checkDefinitionKind("testWorkflow", definition, "workflow", "a workflow (made by workflow(…) or saga(…))");
  return new WorkflowUnderTest(definition, options).begin();
}

/**
 * A stand-in for a component in workflow tests: same name, handlers that return a reply or throw
 * (a SagaflowError becomes a refusal with its code).
 */
export function mockComponent<H extends Record<string, (input: any) => unknown>>(
  name: string,
  handlers: H,
): KeyValueDefinition<null, { [K in keyof H]: (state: null, input: Parameters<H[K]>[0], fx: unknown) => Effect<ReturnType<H[K]>> }, {}> {
  const commands: Record<string, (s: null, input: unknown, fx: any) => any> = {};
  for (const [command, handle] of Object.entries(handlers)) {
    commands[command] = (_s, input, fx) => {
      try {
        return fx.reply(handle(input));
      } catch (error) {
        if (error instanceof SagaflowError) return fx.error(error.code, error.message);
        throw error;
      }
    };
  }
  return keyValue(name, { initial: () => null, commands }) as never;
}
