import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * One process at a time on a SQLite file: two processes serving the same data would each run
 * its consumers, timers and workflows (and each cache instances the other changes), so a second
 * one must refuse to start instead of serving stale state.
 *
 * The lock is a file beside the database (`sagaflow.db.lock`) naming its owner: pid, the pid's
 * start time (so a reused pid does not count as the owner) and its command line. A lock whose
 * owner is gone (exited, or killed with SIGKILL) is stale and taken over, so a crash never blocks
 * a restart. Within one process the same file may be opened several times (counted).
 */

interface Owner {
  pid: number;
  /** The pid's start time as the OS reports it (Linux), or null where it cannot be read. */
  started: string | null;
  host: string;
  command: string;
  since: string;
}

/** Locks this process holds, by lock path, with how many stores share each. */
const held = new Map<string, number>();

/** The error a second process gets: it names the process that serves the data. */
export class DataInUseError extends Error {
  override readonly name = "DataInUseError";
  constructor(
    readonly database: string,
    readonly owner: { pid: number; command: string; since: string },
  ) {
    super(
      `${database} is in use by another live process: pid ${owner.pid} (${owner.command}), since ${owner.since}. ` +
        `Two processes on one SQLite file would each run the work and serve stale state: stop that one first, or use another --data folder.`,
    );
  }
}

/** Takes the lock of the database at `path`; returns its release (idempotent). */
export function lockDatabase(path: string): () => void {
  const lockPath = `${path}.lock`;
  const count = held.get(lockPath);
  if (count !== undefined) {
    held.set(lockPath, count + 1);
    return once(() => release(lockPath));
  }
  const me = self();
  // Two tries: the second after a stale lock was moved out of the way.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(lockPath, me)) {
      held.set(lockPath, 1);
      return once(() => release(lockPath));
    }
    const owner = readOwner(lockPath);
    if (owner && alive(owner)) throw new DataInUseError(path, owner);
    // Stale (its owner is gone) or unreadable: move it aside atomically, then try again. If
    // another starter took over in between, the create fails and its (live) lock is reported.
    const aside = `${lockPath}.stale-${process.pid}`;
    try {
      renameSync(lockPath, aside);
      const moved = readOwner(aside);
      if (moved && alive(moved) && (owner === undefined || moved.pid !== owner.pid)) {
        // We moved a live lock that replaced the stale one in between: put it back.
        renameSync(aside, lockPath);
        throw new DataInUseError(path, moved);
      }
      rmSync(aside, { force: true });
    } catch (error) {
      if (error instanceof DataInUseError) throw error;
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  const owner = readOwner(lockPath);
  throw owner ? new DataInUseError(path, owner) : new Error(`cannot take the lock ${lockPath}`);
}

/** Creates the lock file with its content in one step (a hard link of a finished temp file). */
function tryCreate(lockPath: string, me: Owner): boolean {
  const temp = `${lockPath}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(me));
  try {
    linkSync(temp, lockPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

function release(lockPath: string): void {
  const count = held.get(lockPath) ?? 0;
  if (count > 1) {
    held.set(lockPath, count - 1);
    return;
  }
  held.delete(lockPath);
  // Only our own lock: never remove one another process took over.
  if (readOwner(lockPath)?.pid === process.pid) rmSync(lockPath, { force: true });
}

function readOwner(lockPath: string): Owner | undefined {
  try {
    const owner = JSON.parse(readFileSync(lockPath, "utf8")) as Owner;
    return typeof owner.pid === "number" ? owner : undefined;
  } catch {
    return undefined;
  }
}

function self(): Owner {
  return {
    pid: process.pid,
    started: startTime(process.pid),
    host: hostname(),
    command: [process.argv0, ...process.argv.slice(1)].join(" "),
    since: new Date().toISOString(),
  };
}

/** True while the owner still runs: its pid exists and (where the OS says) started when it did. */
function alive(owner: Owner): boolean {
  if (owner.host !== hostname()) return true; // a shared folder: we cannot look, so never steal
  if (owner.pid === process.pid) return false; // our own, left by an earlier run with this pid
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const stat = procStat(owner.pid);
  // A zombie (killed, not yet reaped by its parent) holds nothing any more.
  if (stat?.[0] === "Z") return false;
  const started = stat?.[19] ?? null;
  return owner.started === null || started === null || started === owner.started;
}

/** When the process started (field 22 of /proc/<pid>/stat, Linux), in clock ticks since boot. */
function startTime(pid: number): string | null {
  return procStat(pid)?.[19] ?? null;
}

/** Fields 3… of /proc/<pid>/stat (state first), or undefined where there is no /proc. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
