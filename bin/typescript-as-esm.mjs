// Module resolution hook of the sagaflow CLI: a user's TypeScript file (outside node_modules) loads
// as an ES module whatever its package.json's "type" says. `npm init -y` writes "type": "commonjs";
// tsx would then compile the service to CommonJS, and its `import … from "sagaflow"` would either
// fail ("Cannot require() ES Module … in a cycle") or load a second copy of Sagaflow. Registered
// after tsx, so tsx still compiles the file; this only settles its format.
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  if (!resolved.url.startsWith("file:") || resolved.url.includes("/node_modules/")) return resolved;
  const { pathname } = new URL(resolved.url);
  return /\.tsx?$/.test(pathname) ? { ...resolved, format: "module" } : resolved;
}
