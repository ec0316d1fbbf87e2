/**
 * What every bench program does alike: progress lines on stderr, one JSON line per figure on
 * stdout and nothing else, temporary data folders (under BENCH_DIR, by default the OS temp
 * dir) that are removed however the program ends, and other clean-ups (server processes,
 * PostgreSQL schemas) deferred likewise.
 *
 * @example
 * const bench = benchProgram("timers");
 * await bench.run(async () => {
 *   const dir = bench.newDataDir("spread");
 *   bench.emit({ mode: "spread", timers: 10_000 }); // {"bench":"timers","mode":"spread","timers":10000}
 * });
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface BenchProgram {
  /** Writes a progress line to stderr. */
  log(line: string): void;
  /** Writes one figure as a JSON line to stdout, `bench` (the program's name unless the figure names another) first. */
  emit(figure: Record<string, unknown>): void;
  /** A new temporary folder, removed by `removeDataDirs()` or when the program ends. */
  newDataDir(label: string): string;
  removeDataDirs(): void;
  /**
   * Registers a clean-up that runs however the program ends (latest first, on SIGINT or SIGTERM
   * too); returns a function that runs it now instead, once.
   */
  defer(cleanUp: () => void | Promise<void>): () => Promise<void>;
  /** Runs `main`: a failure is logged and sets exit code 1; the data folders go in any case, on SIGINT or SIGTERM too. */
  run(main: () => Promise<void>): Promise<void>;
}

export function benchProgram(name: string): BenchProgram {
  const baseDir = process.env["BENCH_DIR"] ?? tmpdir();
  const tempDirs: string[] = [];
  const log = (line: string): void => {
    process.stderr.write(`bench: ${line}\n`);
  };
  const removeDataDirs = (): void => {
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  };
  const deferred: Array<() => Promise<void>> = [];
  const runDeferred = async (): Promise<void> => {
    for (const cleanUp of deferred.slice().reverse()) await cleanUp();
  };
  return {
    log,
    emit(figure) {
      process.stdout.write(`${JSON.stringify({ bench: name, ...figure })}\n`);
    },
    newDataDir(label) {
      const dir = mkdtempSync(join(baseDir, `sagaflow-bench-${name}-${label}-`));
      tempDirs.push(dir);
      return dir;
    },
    removeDataDirs,
    defer(cleanUp) {
      let done: Promise<void> | undefined;
      const once = (): Promise<void> => {
        done ??= (async () => {
          const at = deferred.indexOf(once);
          if (at >= 0) deferred.splice(at, 1);
          try {
            await cleanUp();
          } catch (error) {
            log(`clean-up failed: ${String(error)}`);
          }
        })();
        return done;
      };
      deferred.push(once);
      return once;
    },
    async run(main) {
      const abort = (code: number) => {
        // A clean-up that hangs (a server that will not stop) must not keep the program alive.
        const giveUp = setTimeout(() => process.exit(code), 20_000);
        void runDeferred().finally(() => {
          clearTimeout(giveUp);
          removeDataDirs();
          process.exit(code);
        });
      };
      for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => abort(130));
      // stdout closed by its reader (`| head`): nothing more can be reported, but clean up all the same.
      process.stdout.once("error", () => abort(1));
      try {
        await main();
      } catch (error) {
        log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        process.exitCode = 1;
      } finally {
        await runDeferred();
        removeDataDirs();
      }
    },
  };
}
