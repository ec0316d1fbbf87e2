import type { EntityDefinition } from "./entity.ts";
import type { KeyValueDefinition } from "./key-value.ts";
import type { WorkflowDefinition } from "./workflow.ts";
import type { ConsumerDefinition } from "./consumer.ts";
import type { ViewDefinition } from "./view.ts";
import type { EndpointDefinition } from "./endpoint.ts";
import type { AuthConfig } from "./auth.ts";
import { checkCorsConfig, type CorsConfig } from "./cors.ts";
import { described } from "./component.ts";
import type { TopicConsumerDefinition, TopicProducerDefinition } from "./topic.ts";
import type { ScheduleDefinition } from "./schedule.ts";

/** Components that have instances and take commands. */
export type Component = EntityDefinition | KeyValueDefinition | WorkflowDefinition;

/** Everything a service can contain. */
export type ServiceComponent = Component | ConsumerDefinition | ViewDefinition | EndpointDefinition | TopicConsumerDefinition | TopicProducerDefinition | ScheduleDefinition;

export interface ServiceDefinition {
  readonly kind: "service";
  readonly name: string;
  readonly components: readonly ServiceComponent[];
  /** Trusted token issuers (see {@link ServiceOptions.auth}); absent: no token is accepted. */
  readonly auth?: AuthConfig;
  /** Which browser origins may call the service (see {@link ServiceOptions.cors}). */
  readonly cors?: CorsConfig;
}

/** What a service says besides its components. */
export interface ServiceOptions {
  /** Trusted JWT issuers; values may come from the environment with `env("NAME")`, read at start-up. */
  readonly auth?: AuthConfig;
  /** Browser origins allowed to call the service's routes; none when absent (same-origin only). */
  readonly cors?: CorsConfig;
}

/** What each definition function makes (the `kind` of its result): anything else in a service's list is a mistake. */
const componentKinds = new Set<ServiceComponent["kind"]>(["entity", "key-value", "workflow", "consumer", "view", "endpoint", "topic-consumer", "topic-producer", "schedule"]);

/**
 * A list of components as plain JavaScript may get it wrong (not an array; an `undefined` from an
 * import that names nothing): `where` and `argument` name it in the error.
 */
export function checkComponentList(where: string, argument: string, components: unknown): void {
  if (!Array.isArray(components)) throw new TypeError(`${where}: ${argument} must be an array of components ([wallet, transfer, …]), got ${described(components)}`);
  components.forEach((component: unknown, i) => {
    if (!componentKinds.has((component as { kind?: ServiceComponent["kind"] } | null)?.kind!)) {
      throw new TypeError(`${where}: components[${i}] is not a component (made by entity(), keyValue(), workflow(), saga(), view(), …), got ${described(component)}`);
    }
  });
}

/**
 * A service is a named list of components; `sagaflow serve` runs the one a module exports
 * as default.
 *
 * @example
 * export default service("bank", [wallet, transfer]);
 * export default service("bank", [wallet, customer], {
 *   auth: { issuers: [{ issuer: "bank-example", algorithms: ["HS256"], secret: env("BANK_JWT_SECRET") }] },
 * });
 */
export function service(name: string, components: readonly ServiceComponent[], options: ServiceOptions = {}): ServiceDefinition {
  if (typeof name !== "string" || name === "") throw new TypeError(`service(): the first argument is the service's name, a non-empty string; got ${name === "" ? "an empty string" : described(name)}`);
  checkComponentList(`service "${name}"`, "the second argument", components);
  const seen = new Set<string>();
  for (const component of components) {
    if (seen.has(component.name)) {
      throw new TypeError(`service "${name}" contains two components named "${component.name}"`);
    }
    seen.add(component.name);
  }
  // What is known without running anything: the sources consumers and views read must be served too.
  const listed = (source: { name: string }, reader: string) => {
    if (!seen.has(source.name)) {
      throw new TypeError(
        `service "${name}": ${reader} reads "${source.name}", which the service does not list; add ${source.name} to service("${name}", [...])`,
      );
    }
  };
  for (const component of components) {
    if (component.kind === "consumer") listed(component.source, `consumer "${component.name}"`);
    if (component.kind === "topic-producer") listed(component.options.source, `topic producer "${component.name}"`);
    if (component.kind === "schedule" && component.options.start) listed(component.options.start.workflow, `schedule "${component.name}"`);
    if (component.kind === "view") {
      for (const [table, spec] of Object.entries(component.tables)) listed(spec.source, `view "${component.name}" (table ${table})`);
    }
  }
  if (options.cors) checkCorsConfig(options.cors, `service "${name}"`);
  return { kind: "service", name, components, ...(options.auth ? { auth: options.auth } : {}), ...(options.cors ? { cors: options.cors } : {}) };
}
