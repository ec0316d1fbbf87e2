/**
 * A definition written in plain JavaScript (no type checks) that leaves a part out gets an error
 * that says which part, not a TypeError from deep inside.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { access } from "./access.ts";
import { consumer } from "./consumer.ts";
import { endpoint, route } from "./endpoint.ts";
import { entity } from "./entity.ts";
import { keyValue } from "./key-value.ts";
import { saga } from "./saga.ts";
import { schedule } from "./schedule.ts";
import { service } from "./service.ts";
import { topicProducer } from "./topic.ts";
import { table, view } from "./view.ts";
import { workflow } from "./workflow.ts";

// Called as JavaScript would: the type checker is not there to catch it.
const loose = <F extends (...args: never[]) => unknown>(f: F) => f as unknown as (...args: unknown[]) => unknown;

describe("definition parts", () => {
  it("an-entity-missing-its-handlers-argument-names-it", () => {
    const model = { initial: () => ({ n: 0 }), events: { added: (s: { n: number }) => s } };
    assert.throws(() => loose(entity)("counter", { ...model, commands: {} }), {
      name: "TypeError",
      message: 'component "counter": the third argument ({ commands, queries, expose }) must be an object, got undefined',
    });
    assert.throws(() => loose(entity)("counter", model, { queries: {} }), { message: 'component "counter": its commands must be an object, got undefined' });
    assert.throws(() => loose(entity)("counter", { initial: () => 0 }, { commands: {} }), { message: 'component "counter": its events must be an object, got undefined' });
    assert.throws(() => loose(entity)("counter", null, { commands: {} }), { message: 'component "counter": the second argument ({ initial, events }) must be an object, got null' });
  });

  it("a-key-value-entity-missing-its-commands-names-them", () => {
    assert.throws(() => loose(keyValue)("profile", { initial: () => null, commands: [] }), { message: 'component "profile": its commands must be an object, got an array' });
    assert.throws(() => loose(keyValue)("profile"), { message: 'component "profile": the second argument ({ initial, commands, queries, expose }) must be an object, got undefined' });
  });

  it("a-handler-that-is-not-a-function-is-named-when-defined", () => {
    const model = { initial: () => ({ n: 0 }), events: { added: (s: { n: number }) => s } };
    assert.throws(() => loose(entity)("counter", model, { commands: { add: "add" } }), { message: 'component "counter": its commands.add must be a function, got string' });
    assert.throws(() => loose(entity)("counter", { ...model, events: { added: {} } }, { commands: {} }), { message: 'component "counter": its events.added must be a function, got object' });
    assert.throws(() => loose(entity)("counter", { events: {} }, { commands: {} }), { message: 'component "counter": its initial must be a function, got undefined' });
    assert.throws(() => loose(keyValue)("profile", { initial: () => null, commands: {}, queries: { get: null } }), { message: 'component "profile": its queries.get must be a function, got null' });
  });

  it("a-workflow-missing-its-start-or-steps-names-them", () => {
    const steps = { reserve: () => ({}) };
    assert.throws(() => loose(workflow)("order"), { message: 'component "order": the second argument ({ start, steps, … }) must be an object, got undefined' });
    // Accepted until now, and the first start answered 500.
    assert.throws(() => loose(workflow)("order", { steps }), { message: 'component "order": its start must be a function, got undefined' });
    assert.throws(() => loose(workflow)("order", { start: () => ({}), steps: [() => ({})] }), { message: 'component "order": its steps must be an object, got an array' });
    assert.throws(() => loose(workflow)("order", { start: () => ({}), steps: { reserve: true } }), { message: 'component "order": its steps.reserve must be a function, got boolean' });
    assert.throws(() => loose(workflow)("order", { start: () => ({}), steps, queries: { status: "status" } }), { message: 'component "order": its queries.status must be a function, got string' });
  });

  it("a-saga-with-a-malformed-step-names-it", () => {
    const start = () => ({});
    const run = async () => {};
    assert.throws(() => loose(saga)("pay", { start, steps: { charge: run } }), { message: 'component "pay": its steps must be an array of { name, run, compensate? }, got object' });
    // Accepted until now: the step then failed at run time and the saga compensated.
    assert.throws(() => loose(saga)("pay", { start, steps: [{ name: "charge" }] }), { message: 'component "pay": its steps[0].run must be a function, got undefined' });
    assert.throws(() => loose(saga)("pay", { start, steps: [{ name: "charge", run, compensate: "refund" }] }), { message: 'component "pay": its steps[0].compensate must be a function, got string' });
    assert.throws(() => loose(saga)("pay", { start, steps: [{ run }] }), { message: 'component "pay": its steps[0].name must be a non-empty string' });
    assert.throws(() => loose(saga)("pay", { steps: [{ name: "charge", run }] }), { message: 'component "pay": its start must be a function, got undefined' });
  });

  it("a-view-or-consumer-fed-wrongly-names-the-part", () => {
    const wallet = loose(entity)("wallet", { initial: () => ({}), events: { opened: (s: object) => s } }, { commands: {} });
    const queries = { all: "SELECT * AS rows FROM rows" };
    assert.throws(() => loose(view)("rows", { version: 1, queries }), { message: 'component "rows": its tables must be an object, got undefined' });
    assert.throws(() => loose(view)("rows", { version: 1, tables: { rows: { events: {} } }, queries }), {
      message: 'view "rows", table "rows": its source must be an entity, key-value entity or workflow definition, got undefined',
    });
    assert.throws(() => loose(view)("rows", { version: 1, tables: { rows: table(wallet as never, { events: { opened: 1 } } as never) }, queries }), {
      message: 'view "rows", table "rows": its events.opened must be a function, got number',
    });
    assert.throws(() => loose(view)("rows", { version: 1, tables: {}, queries: { all: 7 } }), { message: 'component "rows": its queries.all must be a query string, got number' });
    assert.throws(() => loose(consumer)("audit", { source: "wallet", events: {} }), {
      message: 'consumer "audit": its source must be an entity, key-value entity or workflow definition, got string',
    });
    assert.throws(() => loose(consumer)("audit", { source: wallet, events: [] }), { message: 'consumer "audit": its events must be an object, got an array' });
  });

  it("schedules-and-topic-producers-without-options-name-them", () => {
    assert.throws(() => loose(schedule)("nightly"), { message: 'component "nightly": the second argument ({ cron, call or start, … }) must be an object, got undefined' });
    assert.throws(() => loose(topicProducer)("out", { source: {}, stream: {}, subject: "a.b" }), { message: 'component "out": its subject must be a function, got string' });
  });

  it("a-service-listing-something-that-is-not-a-component-says-which", () => {
    const counter = loose(entity)("counter", { initial: () => 0, events: {} }, { commands: {} });
    assert.throws(() => loose(service)("shop", { counter }), {
      message: 'service "shop": the second argument must be an array of components ([wallet, transfer, …]), got object',
    });
    // An import that resolved to nothing (a typo, a missing export) is undefined in the list.
    assert.throws(() => loose(service)("shop", [counter, undefined]), {
      message: 'service "shop": components[1] is not a component (made by entity(), keyValue(), workflow(), saga(), view(), …), got undefined',
    });
    assert.throws(() => loose(service)("", [counter]), { message: "service(): the first argument is the service's name, a non-empty string; got an empty string" });
  });

  it("an-endpoint-route-without-its-handler-is-refused-when-defined", () => {
    // Accepted until now: every request to the route then failed with a 500.
    assert.throws(() => loose(route.get)("/hello", { access: access.anyone }), { message: "route GET /hello: the handler (third argument) must be a function, got undefined" });
    assert.throws(() => loose(route.post)(5, { access: access.anyone }, async () => ({})), { message: 'route POST: the path must be a string such as "/customers/:id", got number' });
    assert.throws(() => loose(endpoint)("hello", [{ path: "/hello" }]), {
      message: 'endpoint "hello": routes[0] must be made with route.get/post/put/patch/delete(path, options, handler), got object',
    });
  });
});
