#!/usr/bin/env node
// Finds import cycles among the TypeScript modules under src/ (tests excluded), type-only
// imports included: a cycle of types still ties two modules' designs together. Prints each
// cycle and exits 1 if there is any outside the folders given with --allow (cycles wholly inside
// one are printed, not failed). `node scripts/check-cycles.mjs [folder] [--allow=src/define]`.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const args = process.argv.slice(2);
const allowed = args.filter((a) => a.startsWith("--allow=")).map((a) => resolve(a.slice("--allow=".length)) + sep);
const root = resolve(args.find((a) => !a.startsWith("--")) ?? "src");

function modules(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modules(path);
    return name.endsWith(".ts") && !name.endsWith(".test.ts") ? [path] : [];
  });
}

// Static imports and re-exports (`import … from "x"`, `export … from "x"`, `import "x"`) and dynamic `import("x")`.
const specifiers = /(?:^|[\s;])(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

const files = modules(root);
const graph = new Map();
for (const file of files) {
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const edges = new Set();
  for (const match of text.matchAll(specifiers)) {
    const spec = match[1] ?? match[2] ?? match[3];
    if (spec?.startsWith(".")) edges.add(resolve(dirname(file), spec));
  }
  graph.set(file, [...edges].filter((target) => graph.has(target) || files.includes(target)));
}

// Tarjan's strongly connected components: each component of more than one module holds a cycle.
let index = 0;
const stack = [];
const info = new Map();
const components = [];
function visit(node) {
  info.set(node, { index, low: index, onStack: true });
  index++;
  stack.push(node);
  for (const next of graph.get(node) ?? []) {
    if (!info.has(next)) {
      visit(next);
      info.get(node).low = Math.min(info.get(node).low, info.get(next).low);
    } else if (info.get(next).onStack) {
      info.get(node).low = Math.min(info.get(node).low, info.get(next).index);
    }
  }
  if (info.get(node).low === info.get(node).index) {
    const component = [];
    let member;
    do {
      member = stack.pop();
      info.get(member).onStack = false;
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) components.push(component);
  }
}
for (const file of files) if (!info.has(file)) visit(file);

const isAllowed = (component) => allowed.some((folder) => component.every((file) => file.startsWith(folder)));
for (const component of components) {
  const names = component.map((f) => relative(process.cwd(), f)).sort().join(", ");
  console.log(`${isAllowed(component) ? "allowed " : ""}import cycle among: ${names}`);
}
const failing = components.filter((c) => !isAllowed(c));
if (failing.length > 0) process.exit(1);
console.log(`no import cycles among ${files.length} modules under ${relative(process.cwd(), root) || "."}${components.length > 0 ? " but those allowed" : ""}`);
