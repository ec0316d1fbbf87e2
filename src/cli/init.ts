import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, type FlagSpec } from "./args.ts";

export const initUsage = `  sagaflow init  [folder] [--sagaflow-spec SPEC]   a new project: a service, its tests, package.json
                 (folder default: the current one, which must be empty; SPEC is the sagaflow
                 dependency, default ^<this version>; or SAGAFLOW_INIT_SPEC)`;

// From src/cli or dist/cli alike, the package's root is two folders up.
const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

function ownVersion(): string {
  const json = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string };
  return json.version;
}

/** An npm package name from a folder name: lower case, no spaces or odd characters. */
function packageName(folder: string): string {
  const name = basename(folder).toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[._-]+/, "");
  return name || "sagaflow-service";
}

function packageJson(name: string, sagaflowSpec: string): string {
  const json = {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: {
      start: "sagaflow serve src/service.ts",
      dev: "sagaflow dev src/service.ts",
      // The shell expands the glob (Node 20 does not glob --test arguments itself).
      test: "tsc && node --import tsx --test src/*.test.ts",
    },
    dependencies: { sagaflow: sagaflowSpec },
    // tsx runs the tests (sagaflow brings it too; named here so `--import tsx` never depends on hoisting).
    devDependencies: { "@types/node": "^20.19.0", tsx: "^4.20.0", typescript: "~5.9.3" },
    // npm 12 runs a dependency's install script only when it is approved here (npm 11 warns):
    // better-sqlite3's fetches or builds SQLite's native binding; esbuild's (under tsx) checks its binary.
    allowScripts: { "better-sqlite3": true, esbuild: true },
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

/** The flags of `sagaflow init`. */
export const initFlags: FlagSpec = { values: ["sagaflow-spec"] };

/** `sagaflow init [folder]`: writes a small project that installs, tests and serves at once. */
export function initCommand(argv: string[]): void {
  const { positionals, flags } = parseArgs(argv, initFlags, "init");
  const folder = resolve(positionals[0] ?? ".");
  if (existsSync(folder)) {
    if (!statSync(folder).isDirectory()) throw new Error(`${folder} is a file, not a folder`);
    const present = readdirSync(folder).filter((name) => name !== ".git");
    if (present.length > 0) {
      throw new Error(`${folder} is not empty (${present.slice(0, 3).join(", ")}${present.length > 3 ? ", …" : ""}): name a new or empty folder`);
    }
  }
  const spec = flags.get("sagaflow-spec") ?? process.env["SAGAFLOW_INIT_SPEC"] ?? `^${ownVersion()}`;
  const name = packageName(folder);
  mkdirSync(folder, { recursive: true });
  cpSync(join(packageRoot, "templates/init"), folder, { recursive: true });
  const readme = join(folder, "README.md");
  writeFileSync(readme, readFileSync(readme, "utf8").replaceAll("__NAME__", name));
  writeFileSync(join(folder, "package.json"), packageJson(name, spec));
  // npm drops .gitignore files from tarballs, so this one is written here.
  writeFileSync(join(folder, ".gitignore"), "node_modules/\n.sagaflow/\n");
  const where = relative(process.cwd(), folder) || ".";
  console.log(`sagaflow: a new service in ${where}. Next:\n`);
  if (where !== ".") console.log(`  cd ${shellWord(where)}`);
  console.log("  npm install\n  npm test     # type-checks and runs the unit tests\n  npm start    # serves on http://127.0.0.1:3000");
}

/** `text` as one word for a POSIX shell: as it is when it is plain, else in single quotes. */
function shellWord(text: string): string {
  return /^[\w./@+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
