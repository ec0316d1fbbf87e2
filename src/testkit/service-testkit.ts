import { Client } from "../client/client.ts";
import type { ServiceComponent } from "../define/service.ts";
import { settle, VirtualClock } from "../runtime/clock.ts";
import { Runtime } from "../runtime/runtime.ts";
import type { AdminFacade } from "../runtime/facades.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";

/**
 * A whole service in process — entities, workflows, consumers, timers — on an in-memory store
 * with a virtual clock: `advance` fires timers, retries and timeouts without sleeping.
 *
 * @example
 * const t = await testService([user, email, reservations, confirmations]);
 * await t.client.call(user, "u1").register({ email: "a@b.c", name: "A" });
 * await t.settle();
 * await t.advance(10_000); // reservation timers fire
 * assert.deepEqual(await t.admin.timers("pending", 10), []);
 */
export class ServiceUnderTest {
  readonly clock = new VirtualClock();
  private readonly runtime: Runtime;
  readonly client: Client;
  /** What an operator sees and does (the admin API's operations): timers, parked messages, workflows, views. */
  readonly admin: AdminFacade;

  constructor(components: readonly ServiceComponent[]) {
    // Views run their queries inside SQL: a service with views gets an in-memory SQLite store.
    const store = components.some((c) => c.kind === "view") ? new SqliteStore({ path: ":memory:" }) : new MemoryStore();
    this.runtime = new Runtime({ store, components, clock: this.clock, log: () => {} });
    const dispatcher = this.runtime.dispatcher;
    this.client = new Client({
      call: (...args) => dispatcher.call(...args),
      workflowResult: (...args) => dispatcher.workflowResult(...args),
      component: (name) => dispatcher.component(name),
      queryView: (...args) => this.runtime.service.queryView(...args),
    });
    this.admin = this.runtime.admin;
  }

  /** Runs a view's named query, as `GET /views/{view}/{query}` does. */
  query(view: string, query: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return this.runtime.service.queryView(view, query, params);
  }

  /** Starts the service (`testService` does this). */
  start(): Promise<void> {
    return this.runtime.start();
  }

  /** Lets everything that can happen without time passing happen (consumers and views catch up). */
  async settle(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      await settle();
      const head = await this.runtime.store.feedHead();
      const consumersDone = [...this.runtime.consumers.values()].every((c) => c.position >= head);
      const viewsDone = this.runtime.views.runners().every((v) => (v.serving?.offset ?? -1) >= head);
      if (consumersDone && viewsDone) {
        await settle();
        if ((await this.runtime.store.feedHead()) === head) return;
      }
    }
  }

  /** Moves virtual time on, firing what falls due, then settles. */
  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
    await this.settle();
  }

  stop(): Promise<void> {
    return this.runtime.stop();
  }
}

export async function testService(components: readonly ServiceComponent[]): Promise<ServiceUnderTest> {
  const t = new ServiceUnderTest(components);
  await t.start();
  return t;
}
