// Loaded with --import into a CLI run: at exit, prints to stderr which of the watched packages the
// process loaded (those loaded through require, which is how Node loads CommonJS packages).
import { createRequire } from "node:module";
import { writeSync } from "node:fs";

const require = createRequire(import.meta.url);
const watched = ["better-sqlite3", "pg", "pino", "prom-client", "@opentelemetry/api"];
process.on("exit", () => {
  const files = Object.keys(require.cache);
  const loaded = watched.filter((name) => files.some((file) => file.includes(`/node_modules/${name}/`)));
  writeSync(2, `\nloaded-packages: ${JSON.stringify(loaded)}\n`);
});
