#!/usr/bin/env node
// The sagaflow CLI. tsx is registered first so that a user's service written in TypeScript loads
// without a build step, as an ES module even in a CommonJS project (./typescript-as-esm.mjs).
// The CLI itself is the package's built JavaScript (dist/cli/main.js), or its sources when Node
// runs with --conditions=sagaflow-source (the repository's own tests).
import { register as registerHooks } from "node:module";
import { register } from "tsx/esm/api";

register();
registerHooks("./typescript-as-esm.mjs", import.meta.url);
try {
  await import("#cli");
} catch (error) {
  if (error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/cli/main.js")) {
    console.error("sagaflow: the package is not built (no dist/cli/main.js): run `npm run build` in it");
    process.exit(1);
  }
  throw error;
}
