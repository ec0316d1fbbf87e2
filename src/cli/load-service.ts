import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
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
    throw new Error(`${modulePath} failed to load: ${error instanceof Error ? error.message : String(error)}${whereItFailed(error)}`, { cause: error });
  }
  const candidate = loaded.default;
  if (isService(candidate)) return candidate;
  const nested = (candidate as { default?: unknown } | undefined)?.default;
  if (isService(nested)) return nested;
  throw new Error(`${modulePath} must export default service("name", [components...])`);
}

/** Sagaflow's own code (sources or build), whose frames say nothing about the user's module. */
const ownCode = ["src", "dist"].map((dir) => fileURLToPath(new URL(`../../${dir}/`, import.meta.url)));

/**
 * Where a module failed as it loaded, from the error's stack: the source excerpt Node puts first
 * for an import that names nothing, or else the frames in the user's own files (not Node's, not
 * node_modules'). Empty when the stack tells nothing more.
 */
function whereItFailed(error: unknown): string {
  const stack = error instanceof Error ? (error.stack ?? "") : "";
  const lines = stack.split("\n");
  const headline = lines.findIndex((line) => line.includes((error as Error).message));
  const excerpt = headline > 0 ? lines.slice(0, headline).filter((line) => line.trim() !== "") : [];
  const frames = lines.filter((line) => /^\s+at /.test(line) && !/node:|node_modules/.test(line) && !ownCode.some((dir) => line.includes(dir))).slice(0, 5);
  const where = excerpt.length > 0 ? excerpt : frames;
  return where.length > 0 ? `\n${where.join("\n")}` : "";
}
