/**
 * The package as users run it: dist/, built from src/ by scripts/build.mjs. The HTTP benches start
 * their `sagaflow serve` processes from it, because that is what an installed Sagaflow runs: the
 * sources run through tsx, which compiles with esbuild's keepNames (a `__name` call on every
 * function made), and measured ≈10% more server CPU per transfer saga than the build.
 * A build older than its sources is built again first (as `npm pack` does), so a bench never
 * measures stale code.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { distIsStale } from "../../scripts/build-if-stale.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Where a bench's servers run from: `build` (the default) or, with BENCH_SERVER_FROM=source, the sources under tsx. */
export function serverFrom(): "build" | "source" {
  const from = process.env["BENCH_SERVER_FROM"] ?? "build";
  if (from !== "build" && from !== "source") throw new Error(`BENCH_SERVER_FROM must be build or source, not ${JSON.stringify(from)}`);
  return from;
}

/** Builds the package unless dist/ is newer than everything it is built from. */
export function ensureBuilt(log: (line: string) => void): void {
  if (!distIsStale(root)) return;
  log("building the package (dist/ is missing or older than its sources)");
  const run = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  if (run.status !== 0) throw new Error(`the build failed (exit ${run.status}): fix it, or run the sources with BENCH_SERVER_FROM=source`);
}
