import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ServiceDefinition } from "../define/service.ts";

/** Finds the module of a service: a file, or a folder's index.ts. */
export function resolveServiceModule(target: string): string {
  const path = resolve(target);
  if (!existsSync(path)) throw new Error(`no such file or folder: ${target}`);
  if (!statSync(path).isDirectory()) return path;
  for (const name of ["index.ts", "service.ts", "index.js", "index.mjs"]) {
    if (existsSync(join(path, name))) return join(path, name);
  }
  throw new Error(`folder ${target} has no index.ts or service.ts`);
}

/** Imports a service module; its default export must be `service(...)`. */
export async function loadService(target: string): Promise<ServiceDefinition> {
  const modulePath = resolveServiceModule(target);
  const loaded = (await import(pathToFileURL(modulePath).href)) as { default?: unknown };
  const candidate = loaded.default as Partial<ServiceDefinition> | undefined;
  if (!candidate || candidate.kind !== "service") {
    throw new Error(`${modulePath} must export default service("name", [components...])`);
  }
  return candidate as ServiceDefinition;
}
