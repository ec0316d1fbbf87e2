import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import type Database from "better-sqlite3";
import { SagaflowError } from "../../define/errors.ts";
import type { BackupReport } from "../port.ts";

/**
 * Pages copied per step of SQLite's online backup (4 KiB each: ~1 MiB). Between two steps the
 * event loop runs, so commands wait at most one step (about a millisecond from the page cache).
 */
export const BACKUP_PAGES_PER_STEP = 256;

/**
 * Copies the open database into `path` with SQLite's online backup API, a step at a time.
 * better-sqlite3 backs up from the store's own connection, so a commit made between two steps is
 * written into the copy too (SQLite updates a backup in progress when the same connection writes)
 * rather than restarting it: the copy is the database as it stands when the last step ends, which
 * holds every commit acknowledged before the backup began.
 *
 * The copy is written beside `path` as `<path>.partial` and renamed when complete, so a failed or
 * interrupted backup never leaves a file that looks finished.
 */
export async function backupSqlite(db: Database.Database, path: string, pagesPerStep = BACKUP_PAGES_PER_STEP): Promise<BackupReport> {
  checkDestination(path);
  const partial = `${path}.partial`;
  rmSync(partial, { force: true });
  const started = performance.now();
  let steps = 0;
  try {
    const { totalPages } = await db.backup(partial, {
      progress: () => {
        steps++;
        return pagesPerStep;
      },
    });
    // Another backup may have finished at `path` meanwhile: never replace a file.
    if (existsSync(path)) throw exists(path);
    renameSync(partial, path);
    return { path, bytes: statSync(path).size, pages: totalPages, steps, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}

/** An absolute path, to a file that does not exist yet, in a folder that does. */
function checkDestination(path: unknown): asserts path is string {
  if (typeof path !== "string" || path === "") {
    throw new SagaflowError("invalid_backup_path", 'give the backup file as {"path": "/absolute/path/backup.db"}');
  }
  if (!isAbsolute(path)) throw new SagaflowError("invalid_backup_path", `the backup path must be absolute (the server's working folder is not yours): ${path}`);
  if (existsSync(path)) throw exists(path);
  const folder = dirname(path);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new SagaflowError("invalid_backup_path", `the folder ${folder} does not exist`);
  }
}

function exists(path: string): SagaflowError {
  return new SagaflowError("backup_exists", `${path} exists already; a backup never overwrites a file`, { status: 409 });
}
