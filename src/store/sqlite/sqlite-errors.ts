/**
 * SQLite's and the file system's ways of saying "not now" (SQLITE_FULL, ENOSPC, SQLITE_BUSY, an
 * I/O error on a full disk), turned into the one error type the engine and the HTTP layer know:
 * `StoreUnavailableError` with a reason. A file that cannot be opened or written at all (read-only,
 * missing folder) becomes an error that names the file. Nothing outside this folder knows these codes.
 */
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { StoreUnavailableError } from "../../define/errors.ts";

/** Below this many free bytes on the data folder's file system, an I/O error is taken for a full disk. */
const NEARLY_FULL_BYTES = 1024 * 1024;
/** Retry-After for a full disk: space rarely comes back within a second. */
const DISK_FULL_RETRY_AFTER_S = 10;

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Free bytes for an unprivileged writer on the file system holding `path`; undefined if unknown. */
export function freeBytes(path: string): number | undefined {
  try {
    const stats = statfsSync(dirname(path));
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/** Whether `error` says the disk holding `path` is full. */
export function isDiskFull(error: unknown, path: string): boolean {
  const code = codeOf(error);
  if (code === "SQLITE_FULL" || code === "ENOSPC") return true;
  // SQLite reports some failed writes on a full disk as I/O errors (a write, an fsync, growing the
  // shared-memory file): call it a full disk when the disk is in fact (nearly) full.
  if (code?.startsWith("SQLITE_IOERR")) {
    const free = freeBytes(path);
    return free !== undefined && free < NEARLY_FULL_BYTES;
  }
  return false;
}

/**
 * `error` as a StoreUnavailableError when the store is away for a while (disk full, the file
 * locked by another process); as an Error naming `path` when the file cannot be written or opened
 * at all; else `error` itself.
 */
export function toStoreError(error: unknown, path: string): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const code = codeOf(error);
  const detail = error instanceof Error ? error.message : String(error);
  if (isDiskFull(error, path)) {
    return new StoreUnavailableError("disk_full", `the disk holding ${path} is full; free some space (${detail})`, {
      retryAfterSeconds: DISK_FULL_RETRY_AFTER_S,
      cause: error,
    });
  }
  if (code?.startsWith("SQLITE_BUSY")) {
    return new StoreUnavailableError("lock_timeout", `${path} is locked by another process; try again (${detail})`, { cause: error });
  }
  return namingFile(error, path);
}

/** What better-sqlite3 throws when its native binding is missing or built for another Node.js. */
const unusableBinding = /Could not locate the bindings file|NODE_MODULE_VERSION|compiled against a different Node\.js version|invalid ELF header|wrong ELF class/;

/**
 * SQLite's native binding not loadable, as an error that says what to run: its install script did
 * not run (npm 12 skips install scripts that package.json's `allowScripts` does not approve) or
 * built it for another Node.js. Undefined for any other error.
 */
export function bindingUnusable(error: unknown): Error | undefined {
  const detail = error instanceof Error ? error.message : String(error);
  if (!unusableBinding.test(detail)) return undefined;
  return new Error(
    // The first line only: the loader goes on to list every path it tried.
    `SQLite's native binding (better-sqlite3) cannot be loaded: ${detail.split("\n")[0]!.replace(/\s*Tried:$/, "")} ` +
      "Its install script did not run (npm 12 runs a dependency's install script only when package.json's allowScripts approves it) " +
      "or built it for another Node.js version: run `npm approve-scripts better-sqlite3 && npm rebuild better-sqlite3`",
    { cause: error },
  );
}

/** A read-only, unopenable or full database file (or its lock beside it) as an error that names the file and its folder. */
export function namingFile(error: unknown, path: string): unknown {
  const code = codeOf(error);
  const detail = error instanceof Error ? error.message : String(error);
  if (code === "SQLITE_FULL" || code === "ENOSPC") {
    return new Error(`the disk holding ${dirname(path)} is full (${detail}): free some space, then start again`, { cause: error });
  }
  if (code?.startsWith("SQLITE_READONLY") || code === "EROFS" || code === "EACCES" || code === "EPERM") {
    return new Error(`cannot write the database file ${path} (${detail}): check that it and its folder ${dirname(path)} are writable`, { cause: error });
  }
  if (code?.startsWith("SQLITE_CANTOPEN")) {
    return new Error(`cannot open the database file ${path} (${detail}): check that the folder ${dirname(path)} exists and is writable`, { cause: error });
  }
  return error;
}
