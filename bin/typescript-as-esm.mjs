// Module resolution hook of the sagaflow CLI: a user's TypeScript file (outside node_modules) loads
// as an ES module whatever its package.json's "type" says. `npm init -y` writes "type": "commonjs";
// tsx would then compile the service to CommonJS, and its `import … from "sagaflow"` would either
// fail ("Cannot require() ES Module … in a cycle") or load a second copy of Sagaflow. Registered
// after tsx, so tsx still compiles the file; this only settles its format.
import { fileURLToPath, pathToFileURL } from "node:url";

/** tsx's mark on a file it takes for CommonJS, imported from an ES module: a query, also escaped into the path. */
const commonJsMark = /\?tsx-commonjs-.*$/;

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  if (!resolved.url.startsWith("file:") || resolved.url.includes("/node_modules/")) return resolved;
  const url = new URL(resolved.url);
  const marked = commonJsMark.test(url.search) || commonJsMark.test(decodeURIComponent(url.pathname));
  // The file's own path, without tsx's mark (a file a module of the service imports, such as ./wallet.ts, has it).
  const path = fileURLToPath(new URL(url.pathname, url)).replace(commonJsMark, "");
  if (!/\.tsx?$/.test(path)) return resolved;
  return { ...resolved, url: marked ? pathToFileURL(path).href : resolved.url, format: "module" };
}
