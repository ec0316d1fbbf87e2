import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

/**
 * `sagaflow/client` runs in programs that only call a service: it must load no database driver,
 * no runtime, no server. Follows the modules it imports at run time (type-only imports are
 * erased) from its entry point, and lists every one.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Specifiers of the imports and re-exports of a module that survive type erasure. */
function valueImports(source: string): string[] {
  const found: string[] = [];
  const statement = /^(import|export)\s+(type\s+)?([^;]*?)\s+from\s+"([^"]+)"/gms;
  for (const match of source.matchAll(statement)) {
    const typeOnly = match[2] !== undefined;
    const names = match[3] ?? "";
    // `import { type A, type B } from` is erased as well.
    const allTypes = /^\{[^}]*\}$/s.test(names.trim()) && names.replace(/[{}\s]/g, "").split(",").filter(Boolean).every((n) => n.startsWith("type"));
    if (!typeOnly && !allTypes) found.push(match[4]!);
  }
  for (const match of source.matchAll(/^import\s+"([^"]+)"/gm)) found.push(match[1]!);
  return found;
}

function reachable(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const specifier of valueImports(readFileSync(file, "utf8"))) {
      if (specifier.startsWith(".")) visit(resolve(dirname(file), specifier));
      else packages.add(specifier);
    }
  };
  visit(entry);
  return { files: [...files].map((f) => relative(root, f)).sort(), packages: [...packages].sort() };
}

describe("sagaflow/client imports", () => {
  it("the entry point in package.json is src/client/index.ts (built to dist/client/index.js)", () => {
    const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8")) as { exports: Record<string, Record<string, string>> };
    assert.deepEqual(pkg.exports["./client"], {
      "sagaflow-source": "./src/client/index.ts",
      types: "./dist/client/index.d.ts",
      default: "./dist/client/index.js",
    });
  });

  it("reaches only the client's own files and the error class: no driver, runtime, store or server", () => {
    const { files, packages } = reachable(resolve(root, "src/client/index.ts"));
    assert.deepEqual(packages, []);
    assert.deepEqual(files, [
      "src/client/http-client.ts",
      "src/client/http-transport.ts",
      "src/client/index.ts",
      "src/client/retry-delay.ts",
      "src/define/errors.ts",
    ]);
  });
});
