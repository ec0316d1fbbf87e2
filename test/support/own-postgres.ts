import { execFile, execFileSync } from "node:child_process";
import { chownSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./nats-server.ts";
import { tempDir } from "./server-process.ts";

const run = promisify(execFile);

/**
 * A test that restarts PostgreSQL runs a server of its own (a fresh cluster in a temporary folder,
 * on a free port), so the other test files, which share the machine's server and may run at the
 * same time, never see it go away. It runs only when SAGAFLOW_POSTGRES_BIN names the folder of
 * PostgreSQL's server programs (`initdb`, `pg_ctl`; .ci/run sets it): unset, the file says so.
 */
export function postgresBinOrSay(what: string): string | undefined {
  const bin = process.env["SAGAFLOW_POSTGRES_BIN"];
  if (bin) return bin;
  process.stderr.write(`${what} not asked for: set SAGAFLOW_POSTGRES_BIN (e.g. /usr/lib/postgresql/15/bin) to run it\n`);
  return undefined;
}

/** A PostgreSQL server of the test's own: user postgres, trusted, database postgres. */
export class OwnPostgres {
  private constructor(
    private readonly bin: string,
    private readonly dir: string,
    readonly port: number,
    // PostgreSQL refuses to run as root: as root, its programs run as the user postgres.
    private readonly asUser: string[],
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(bin: string): Promise<OwnPostgres> {
    const dir = tempDir("sagaflow-own-pg-");
    const root = process.getuid?.() === 0;
    if (root) {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
      chownSync(dir, uid, gid);
    }
    const server = new OwnPostgres(bin, dir, await freePort(), root ? ["runuser", "-u", "postgres", "--"] : []);
    await server.program("initdb", ["-D", server.data, "-U", "postgres", "-A", "trust", "--no-sync"]);
    const options = `-p ${server.port} -c listen_addresses=127.0.0.1 -k ${dir}`;
    await server.program("pg_ctl", ["start", "-D", server.data, "-w", "-l", join(dir, "server.log"), "-o", options]);
    return server;
  }

  private get data(): string {
    return join(this.dir, "data");
  }

  private async program(name: string, args: string[]): Promise<void> {
    const [command, ...rest] = [...this.asUser, join(this.bin, name), ...args];
    await run(command!, rest, { timeout: 60_000 });
  }

  /** A fast restart: every connection breaks, and none can be made until it is up again. */
  async restart(): Promise<void> {
    // With its log file again: else the server writes to pg_ctl's output, which then never closes.
    await this.program("pg_ctl", ["restart", "-D", this.data, "-w", "-m", "fast", "-l", join(this.dir, "server.log")]);
  }

  async stop(): Promise<void> {
    await this.program("pg_ctl", ["stop", "-D", this.data, "-w", "-m", "immediate"]).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
