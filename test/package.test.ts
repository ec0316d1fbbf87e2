// The package as a user gets it: `npm pack`, then the tarball installed into fresh projects made
// with `npm init -y` (CommonJS) and with "type": "module". In each, a TypeScript service runs
// under `npx sagaflow serve`, `tsc` with `tsc --init`'s defaults (declaration on, skipLibCheck
// off) passes, and plain Node imports the package's JavaScript; `sagaflow init`'s scaffold
// installs, tests and serves. Slow (one real npm install; later projects reuse its node_modules).
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { getJson, postJson } from "./support/http.ts";
import { run, serveCommand, userEnv } from "./support/package-project.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const fixture = join(repoRoot, "test/fixtures/package-user");
const filesFixture = join(repoRoot, "test/fixtures/package-user-files");
const work = mkdtempSync(join(tmpdir(), "sagaflow-package-"));
let tarball = "";

/** `tsc --init`'s tsconfig with skipLibCheck off and @types/node on; other defaults kept. */
function editTsconfig(project: string, edits: Record<string, string>): void {
  const path = join(project, "tsconfig.json");
  let text = readFileSync(path, "utf8");
  for (const [from, to] of Object.entries(edits)) {
    assert.ok(text.includes(from), `tsc --init's tsconfig has ${from}`);
    text = text.replace(from, to);
  }
  writeFileSync(path, text);
}

async function makeProject(name: string, type: "commonjs" | "module", seed?: string): Promise<string> {
  const project = join(work, name);
  mkdirSync(project);
  await run("npm", ["init", "-y"], project);
  const pkg = JSON.parse(readFileSync(join(project, "package.json"), "utf8")) as Record<string, unknown>;
  assert.equal(pkg["type"] ?? "commonjs", "commonjs", "npm init -y makes a CommonJS project");
  if (type === "module") writeFileSync(join(project, "package.json"), JSON.stringify({ ...pkg, type }, null, 2));
  // The first install compiles better-sqlite3 where no prebuilt binary downloads; later ones reuse it.
  if (seed) cpSync(join(seed, "node_modules"), join(project, "node_modules"), { recursive: true, verbatimSymlinks: true });
  await run("npm", ["install", "--prefer-offline", tarball, "typescript@~5.9.3", "@types/node@^20.19.0"], project);
  await run("npx", ["tsc", "--init"], project);
  editTsconfig(project, {
    '"skipLibCheck": true': '"skipLibCheck": false',
    '"types": []': '"types": ["node"]',
    // A CommonJS project's own import statements need this off (TS1295 otherwise), whatever the package.
    ...(type === "commonjs" ? { '"verbatimModuleSyntax": true': '"verbatimModuleSyntax": false' } : {}),
  });
  cpSync(join(fixture, "service.ts"), join(project, "service.ts"));
  return project;
}

async function servesCommands(project: string, target: string): Promise<void> {
  const served = await serveCommand("npx", ["sagaflow", "serve", target, "--port", "0", "--data", ".sagaflow"], project);
  try {
    assert.deepEqual((await postJson(`${served.url}/wallet/a/deposit`, { amount: 50 })).body, { balance: 50 });
    const refused = await postJson(`${served.url}/wallet/a/withdraw`, { amount: 500 });
    assert.equal(refused.status, 400, "a refusal from the user's module is the runtime's refusal (one copy of sagaflow)");
    assert.equal(refused.body.error.code, "insufficient_funds");
    assert.deepEqual((await postJson(`${served.url}/transfer/t1/start`, { from: "a", to: "b", amount: 20 })).body, { status: "started" });
    const ended = await getJson(`${served.url}/transfer/t1?wait=10`);
    assert.equal(ended.body.state.status, "completed", JSON.stringify(ended.body));
    assert.deepEqual((await getJson(`${served.url}/wallet/b/balance`)).body, { balance: 20 });
  } finally {
    await served.stop();
  }
}

/** A service of several files, with TypeScript-only syntax and `.ts` and `.js` specifiers: in a CommonJS project, each loaded as an ES module too. */
async function servesFiles(project: string): Promise<void> {
  const folder = join(project, "files");
  cpSync(filesFixture, folder, { recursive: true });
  try {
    const served = await serveCommand("npx", ["sagaflow", "serve", "files", "--port", "0", "--data", ".sagaflow-files"], project);
    try {
      assert.deepEqual((await postJson(`${served.url}/counter/c1/add`, { by: 3 })).body, { value: 3 });
    } finally {
      await served.stop();
    }
  } finally {
    // Not left for the project's tsc, which does not allow importing ".ts" specifiers.
    rmSync(folder, { recursive: true, force: true });
  }
}

async function typeChecksWithDeclarations(project: string): Promise<void> {
  // Emitting (not --noEmit) so that declaration emit's own errors (TS2742 …) are reported.
  await run("npx", ["tsc", "--outDir", "out"], project);
  const declarations = readFileSync(join(project, "out/service.d.ts"), "utf8");
  const modules = new Set([...declarations.matchAll(/import\("([^"]+)"/g)].map((m) => m[1]));
  assert.deepEqual([...modules], ["sagaflow"], "inferred types are named through the package's entry, not its files");
}

async function plainNodeImports(project: string, type: "commonjs" | "module"): Promise<void> {
  const imported = await run("node", ["-e", 'Promise.all([import("sagaflow"), import("sagaflow/testkit")]).then(([m, t]) => console.log(typeof m.entity, typeof m.service, typeof t.testEntity))'], project);
  assert.equal(imported.stdout.trim(), "function function function");
  // No CommonJS build: require() loads the ES modules (Node >= 20.19 / 22.12).
  const required = await run("node", ["-e", 'console.log(typeof require("sagaflow").entity)'], project);
  assert.equal(required.stdout.trim(), "function");
  // A plain JavaScript service in the project's own module format.
  const js = type === "module"
    ? 'import { access, entity, service } from "sagaflow";\nconst c = entity("counter", { initial: () => ({ n: 0 }), events: { added: (s, e) => ({ n: s.n + e.by }) } }, { expose: access.anyone, commands: { add: (_s, c, fx) => fx.emit("added", c).reply((s) => s) } });\nexport default service("plain", [c]);\n'
    : 'const { access, entity, service } = require("sagaflow");\nconst c = entity("counter", { initial: () => ({ n: 0 }), events: { added: (s, e) => ({ n: s.n + e.by }) } }, { expose: access.anyone, commands: { add: (_s, c, fx) => fx.emit("added", c).reply((s) => s) } });\nmodule.exports = service("plain", [c]);\n';
  mkdirSync(join(project, "plain"));
  writeFileSync(join(project, "plain/index.js"), js);
  const served = await serveCommand("npx", ["sagaflow", "serve", "plain", "--port", "0", "--data", ".sagaflow-plain"], project);
  try {
    assert.deepEqual((await postJson(`${served.url}/counter/x/add`, { by: 3 })).body, { n: 3 });
  } finally {
    await served.stop();
  }
}

describe("the packed package in a user's project", { timeout: 900_000 }, () => {
  let cjs = "";
  let esm = "";

  before(async () => {
    const packed = await run("npm", ["pack", "--pack-destination", work, "--json"], repoRoot);
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, info!.filename);
    const paths = info!.files.map((f) => f.path);
    assert.ok(paths.includes("dist/index.js") && paths.includes("dist/index.d.ts") && paths.includes("bin/sagaflow.mjs"));
    // The README's links into the documentation work in node_modules/sagaflow too.
    assert.ok(paths.includes("docs/site/index.md") && paths.includes("docs/site/errors/handler_error.md"), "the documentation is packed");
    assert.deepEqual(paths.filter((p) => /^(src|test|bench|\.ci|scripts)\//.test(p)), [], "the tarball holds what users need");
    // What the documentation links to: the examples and the Grafana dashboard.
    assert.ok(paths.includes("examples/bank/index.ts") && paths.includes("ops/grafana/sagaflow.json"), "the examples and dashboard the docs link to are packed");
    assert.deepEqual(paths.filter((p) => p.endsWith(".test.js")), []);
    // No `prepare` in the packed manifest (npm 11 warns every installer of one), and the repository's own kept.
    const packedManifest = JSON.parse((await run("tar", ["-xzOf", tarball, "package/package.json"], repoRoot)).stdout) as { scripts: Record<string, string> };
    assert.equal(packedManifest.scripts["prepare"], undefined);
    assert.equal((JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["prepare"], "node scripts/build.mjs");
    cjs = await makeProject("cjs", "commonjs");
    esm = await makeProject("esm", "module", cjs);
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  for (const type of ["commonjs", "module"] as const) {
    describe(`"type": "${type}"`, () => {
      const project = () => (type === "commonjs" ? cjs : esm);
      it("serves a TypeScript service with npx sagaflow serve", () => servesCommands(project(), "service.ts"));
      it("type-checks with tsc --init's defaults and declaration emit", () => typeChecksWithDeclarations(project()));
      it("plain Node imports the package's JavaScript", () => plainNodeImports(project(), type));
      it("serves a service split over TypeScript files that import each other", () => servesFiles(project()));
    });
  }

  it("a .js service with import syntax in a CommonJS project gets a clear error", async () => {
    mkdirSync(join(cjs, "wrong"));
    writeFileSync(join(cjs, "wrong/index.js"), 'import { service } from "sagaflow";\nexport default service("x", []);\n');
    const ran = await run("npx", ["sagaflow", "serve", "wrong", "--port", "0"], cjs, { expectCode: 1 });
    assert.match(ran.stderr, /uses import\/export, but its package\.json makes \.js files CommonJS/);
  });

  it("sagaflow init scaffolds a project that installs, tests and serves", async () => {
    const created = await run("npx", ["sagaflow", "init", "my-service", "--sagaflow-spec", `file:${tarball}`], esm);
    assert.match(created.stdout, /npm install/);
    const scaffold = join(esm, "my-service");
    assert.deepEqual(readdirSync(scaffold).sort(), [".gitignore", "README.md", "package.json", "src", "tsconfig.json"]);
    const again = await run("npx", ["sagaflow", "init", "my-service"], esm, { expectCode: 1 });
    assert.match(again.stderr, /is not empty/);

    // npm 12 skips a dependency's install script unless package.json approves it; SQLite's binding needs its own.
    assert.equal(JSON.parse(readFileSync(join(scaffold, "package.json"), "utf8")).allowScripts["better-sqlite3"], true);
    cpSync(join(cjs, "node_modules"), join(scaffold, "node_modules"), { recursive: true, verbatimSymlinks: true });
    const installed = await run("npm", ["install", "--prefer-offline"], scaffold);
    // npm 11.16+ lists the dependencies whose install scripts are not approved (older npm says nothing).
    assert.doesNotMatch(installed.stderr, /better-sqlite3.*not yet covered|not yet covered[\s\S]*better-sqlite3/);
    const tested = await run("npm", ["test"], scaffold);
    assert.match(tested.stdout, /# pass 3/);
    assert.match(tested.stdout, /# fail 0/);
    const served = await serveCommand("npm", ["start"], scaffold, { ...userEnv, PORT: "0" });
    try {
      assert.deepEqual((await postJson(`${served.url}/account/a/open`, { owner: "ann" })).body, { balance: 0 });
      const deposited = await postJson(`${served.url}/account/a/deposit`, { amount: 7 });
      assert.deepEqual(deposited.body, { balance: 7 });
      const position = deposited.headers.get("sagaflow-position");
      const view = await getJson(`${served.url}/views/accounts/byOwner?owner="ann"&waitForPosition=${position}`);
      assert.deepEqual(view.body, { accounts: [{ owner: "ann", balance: 7 }] });
    } finally {
      await served.stop();
    }
  });
});
