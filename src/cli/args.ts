/** A small flag parser: `--name value`, `--name=value` and bare positionals; unknown flags are errors. */
export interface ParsedArgs {
  positionals: string[];
  /** Each flag's value (the last one when a flag is given several times). */
  flags: Map<string, string>;
  /** Every value of each flag, in order: `--role a --role b` → ["a", "b"]. */
  lists: Map<string, string[]>;
}

/** The flags a command knows: those that take a value and those that stand alone. */
export interface FlagSpec {
  values: readonly string[];
  booleans?: readonly string[];
}

/** True when `--help` or `-h` is among the arguments: the command prints its help instead. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((arg) => arg === "--help" || arg === "-h");
}

/**
 * Parses `argv` against the flags a command knows. An unknown or misspelt flag is an error that
 * names it and the closest known flag: a silently ignored `--prot 3050` would serve on 3000.
 */
export function parseArgs(argv: readonly string[], spec: FlagSpec, command: string): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const set = (name: string, value: string) => {
    flags.set(name, value);
    lists.set(name, [...(lists.get(name) ?? []), value]);
  };
  const booleans = spec.booleans ?? [];
  const known = [...spec.values, ...booleans];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = (eq > 0 ? arg.slice(0, eq) : arg).replace(/^--?/, "");
    if (!arg.startsWith("--") || !known.includes(name)) throw unknownFlag(eq > 0 ? arg.slice(0, eq) : arg, known, command);
    if (booleans.includes(name)) {
      if (eq > 0) throw new Error(`--${name} takes no value (sagaflow ${command} --help)`);
      set(name, "true");
    } else if (eq > 0) {
      set(name, arg.slice(eq + 1));
    } else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new Error(`--${name} needs a value (sagaflow ${command} --help)`);
      set(name, value);
      i++;
    }
  }
  return { positionals, flags, lists };
}

function unknownFlag(flag: string, known: readonly string[], command: string): Error {
  const hint = closestName(flag, known);
  const suggestion = hint === undefined ? "" : `; did you mean --${hint}?`;
  const list = known.length === 0 ? "it takes no flags" : `its flags: ${known.map((k) => `--${k}`).join(", ")}`;
  return new Error(`unknown flag ${flag} for "sagaflow ${command}"${suggestion} (${list}; sagaflow ${command} --help)`);
}

/** The known name nearest to what was typed: `-p` → `port`, `--prot` → `port`, `--admin-prot` → `admin-port`, `serv` → `serve`. */
export function closestName(flag: string, known: readonly string[]): string | undefined {
  const typed = flag.replace(/^--?/, "").toLowerCase();
  if (typed === "") return undefined;
  if (!flag.startsWith("--") && typed.length === 1) return known.find((k) => k.startsWith(typed));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(typed, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(typed.length / 3)) ? best : known.find((k) => k.startsWith(typed));
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, d[i - 2]![j - 2]! + 1);
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}

/** A port number flag (`--port`, `--admin-port`): 0..65535. */
export function portFlag(value: string | undefined, fallback: number, flag = "--port"): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new Error(`${flag} must be 0..65535, not ${value}`);
  return port;
}

/**
 * A PostgreSQL connection string, refused at once when it is a URL of another kind (`http://…`):
 * otherwise it fails later as a host that cannot be found. `where` names the flag (or variable).
 */
export function postgresFlag(value: string | undefined, where: string): string | undefined {
  const scheme = value === undefined ? undefined : /^([a-z][a-z0-9+.-]+):/i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "postgres" && scheme !== "postgresql" && scheme !== "socket") {
    throw new Error(`${where} must be a PostgreSQL URL like postgres://user@host:5432/database, not ${scheme}://…`);
  }
  // No scheme at all (a missing colon, say): the driver would take it as a host name and fail to find "base".
  if (value !== undefined && scheme === undefined && !value.startsWith("/")) {
    // Shown without its password: the message goes to logs.
    const shown = value.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@").slice(0, 60);
    throw new Error(`${where} must be a PostgreSQL URL like postgres://user@host:5432/database; "${shown}" has no "postgres://"`);
  }
  return value;
}

/** A duration flag: whole seconds (`3600`), or with a unit: `90s`, `30m`, `1h`, `500ms`. Returns ms. */
export function durationFlag(flag: string, value: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value.trim());
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  const ms = match ? Number(match[1]) * units[match[2] ?? "s"]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`${flag} must be a duration > 0 like 3600 (seconds), 90s, 30m or 1h, not "${value}"`);
  return ms;
}
