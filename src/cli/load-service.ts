import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ServiceDefinition } from "../define/service.ts";

const folderEntries = ["index.ts", "service.ts", "index.js", "service.js", "index.mjs"];

/** Finds the module of a service: a file, or a folder's index.ts (or service.ts, index.js, …). */
export function resolveServiceModule(target: string): string {
  const path = resolve(target);
  if (!existsSync(path)) throw new Error(`no such file or folder: ${target}`);
  if (!statSync(path).isDirectory()) return path;
  for (const name of folderEntries) {
    if (existsSync(join(path, name))) return join(path, name);
  }
  throw new Error(`folder ${target} has none of ${folderEntries.join(", ")}`);
}

function isService(value: unknown): value is ServiceDefinition {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "service";
}

/**
 * Imports a service module; its default export must be `service(...)`. TypeScript loads as an ES
 * module (bin/typescript-as-esm.mjs); a CommonJS .js module may set `module.exports = service(…)`
 * or `exports.default = service(…)`, which Node hands over as `default` and `default.default`.
 */
export async function loadService(target: string): Promise<ServiceDefinition> {
  const modulePath = resolveServiceModule(target);
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(modulePath).href)) as { default?: unknown };
  } catch (error) {
    if (error instanceof SyntaxError && /import statement outside a module|Unexpected token 'export'/.test(error.message)) {
      throw new Error(
        `${modulePath} uses import/export, but its package.json makes .js files CommonJS ("type": "commonjs" or no "type"): ` +
          `name it .mjs, write it in TypeScript (.ts), or set "type": "module" in package.json`,
      );
    }
    throw error;
  }
  const candidate = loaded.default;
  if (isService(candidate)) return candidate;
  const nested = (candidate as { default?: unknown } | undefined)?.default;
  if (isService(nested)) return nested;
  throw new Error(`${modulePath} must export default service("name", [components...])`);
}
