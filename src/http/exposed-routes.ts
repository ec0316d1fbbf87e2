import type { AccessRule } from "../define/access.ts";
import { exposedRules } from "../define/exposure.ts";
import type { ServiceComponent } from "../define/service.ts";
import { workflowRouteNames } from "../define/workflow.ts";

/**
 * Which automatic routes exist, from the definitions' `expose` options: per component (entity,
 * key-value, workflow) and per view, the rule of each exposed handler or query. A component or
 * view without an entry has no route at all (deny by default).
 */
export class ExposedRoutes {
  private readonly components = new Map<string, Map<string, AccessRule>>();
  private readonly views = new Map<string, Map<string, AccessRule>>();

  constructor(definitions: readonly ServiceComponent[]) {
    for (const definition of definitions) {
      // Only entities, key-value entities, workflows and views have automatic routes.
      if (definition.kind === "consumer" || definition.kind === "endpoint" || definition.kind === "topic-consumer" || definition.kind === "topic-producer" || definition.kind === "schedule") continue;
      if (definition.kind === "view") {
        const rules = exposedRules(definition.expose, Object.keys(definition.queries));
        if (rules) this.views.set(definition.name, rules);
        continue;
      }
      const names =
        definition.kind === "workflow"
          ? workflowRouteNames(definition.commands, definition.queries)
          : [...Object.keys(definition.commands), ...Object.keys(definition.queries)];
      const rules = exposedRules(definition.expose, names);
      if (rules) this.components.set(definition.name, rules);
    }
  }

  /** The exposed handlers of an entity, key-value entity or workflow (`$result` for `GET /{workflow}/{id}`). */
  component(name: string): ReadonlyMap<string, AccessRule> | undefined {
    return this.components.get(name);
  }

  /** The exposed queries of a view. */
  view(name: string): ReadonlyMap<string, AccessRule> | undefined {
    return this.views.get(name);
  }

  /** Every exposed component route, for checking endpoint routes against them. */
  componentRoutes(): Iterable<[string, ReadonlyMap<string, AccessRule>]> {
    return this.components;
  }

  viewRoutes(): Iterable<[string, ReadonlyMap<string, AccessRule>]> {
    return this.views;
  }
}
