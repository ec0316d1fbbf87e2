#!/usr/bin/env node
// The sagaflow CLI: the package's built JavaScript (dist/cli/main.js), or its sources when Node
// runs with --conditions=sagaflow-source (the repository's own tests).
// tsx is registered only where TypeScript loads: `serve` (a user's service written in TypeScript
// loads without a build step, as an ES module even in a CommonJS project: ./typescript-as-esm.mjs)
// and the sources. The other commands are HTTP clients of the admin API and start without it.
import { register as registerHooks } from "node:module";

const cli = import.meta.resolve("#cli");
if (process.argv[2] === "serve" || cli.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
  registerHooks("./typescript-as-esm.mjs", import.meta.url);
}
try {
  await import(cli);
} catch (error) {
  if (error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/cli/main.js")) {
    console.error("sagaflow: the package is not built (no dist/cli/main.js): run `npm run build` in it");
    process.exit(1);
  }
  throw error;
}
