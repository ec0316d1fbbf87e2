/** The admin flag every operator command takes. */
export const adminFlag = "admin";

/**
 * The admin API's base URL from `--admin`, SAGAFLOW_ADMIN or the default. `localhost:3031` (no
 * scheme) means http://localhost:3031, and a bare `3031` means http://127.0.0.1:3031; anything
 * that is still not an http(s) URL is an error saying what is expected.
 */
export function adminBase(flags: Map<string, string>): string {
  const given = flags.get(adminFlag) ?? process.env["SAGAFLOW_ADMIN"];
  if (given === undefined) return `http://127.0.0.1:${defaultAdminPort()}`;
  const raw = given.trim();
  const withScheme = /^\d+$/.test(raw) ? `http://127.0.0.1:${raw}` : /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`--admin must be the admin API's URL, like http://127.0.0.1:3001 (got ${JSON.stringify(given)})`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`--admin must be an http:// or https:// URL, like http://127.0.0.1:3001 (got ${JSON.stringify(given)})`);
  }
  return url.href;
}

/**
 * Where `sagaflow serve` puts the admin API when not told: the service port + 1, the service port
 * being PORT when the shell has it (as `serve` reads it), else 3000.
 */
function defaultAdminPort(): number {
  const port = Number(process.env["PORT"]);
  return Number.isInteger(port) && port > 0 && port < 65_535 ? port + 1 : 3001;
}

/** Where the admin API is, the token it may require, and where that token came from (for a refusal's message). */
export interface AdminTarget {
  readonly url: string;
  readonly token: string | undefined;
  readonly tokenFrom?: "--admin-token" | "SAGAFLOW_ADMIN_TOKEN";
}

/**
 * How long a read waits for the admin API's answer (SAGAFLOW_ADMIN_TIMEOUT_MS, default 30 s): a
 * server that takes the connection and never answers must not hang the CLI. Actions are not
 * bounded: one may wait for a step attempt in progress, up to that step's timeout.
 */
function readTimeoutMs(): number {
  const given = Number(process.env["SAGAFLOW_ADMIN_TIMEOUT_MS"]);
  return Number.isInteger(given) && given > 0 ? given : 30_000;
}

/** The admin API's URL (see {@link adminBase}) and token: `--admin-token` or SAGAFLOW_ADMIN_TOKEN. */
export function adminTarget(flags: Map<string, string>): AdminTarget {
  const flag = flags.get("admin-token");
  const token = flag ?? process.env["SAGAFLOW_ADMIN_TOKEN"];
  if (token === undefined || token === "") return { url: adminBase(flags), token: undefined };
  return { url: adminBase(flags), token, tokenFrom: flag === undefined ? "SAGAFLOW_ADMIN_TOKEN" : "--admin-token" };
}

/** Calls a running service's admin API; errors come back as readable messages. */
export async function adminRequest(target: AdminTarget, method: "GET" | "POST", path: string, payload?: unknown): Promise<unknown> {
  const base = target.url;
  const headers: Record<string, string> = {
    ...(target.token === undefined ? {} : { authorization: `Bearer ${target.token}` }),
    ...(payload === undefined ? {} : { "content-type": "application/json" }),
  };
  let response: Response;
  try {
    // Under the base's own path too (an admin API behind a proxy at /sagaflow-admin).
    const url = `${base.replace(/\/+$/, "")}${path}`;
    const timeout = method === "GET" ? { signal: AbortSignal.timeout(readTimeoutMs()) } : {};
    response = await fetch(url, { method, headers, ...timeout, ...(payload === undefined ? {} : { body: JSON.stringify(payload) }) });
  } catch (error) {
    if (error instanceof Error && error.name === "TimeoutError") {
      throw new Error(`the admin API at ${base} took the request and did not answer within ${readTimeoutMs() / 1_000} s (is it the service's admin port, and not stopped? --admin URL)`);
    }
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message;
    throw new Error(`cannot reach the admin API at ${base}${why ? ` (${why})` : ""}: is the service running, and is this its admin port, http or https as it serves? (--admin URL; without it, PORT + 1 when PORT is set, else 3001)`);
  }
  // Any other server, the service's own port included, answers without the admin API's mark.
  if (response.headers.get("sagaflow-api") !== "admin") {
    throw new Error(`${base} did not answer as a Sagaflow admin API (HTTP ${response.status}): is it the service's port? --admin takes the admin port, the service port + 1 by default (3001, or PORT + 1)`);
  }
  if (response.status === 401 && target.token === undefined) {
    throw new Error(`the admin API at ${base} needs a token: --admin-token T or SAGAFLOW_ADMIN_TOKEN`);
  }
  const body = (await response.json()) as { error?: { code: string; message: string } };
  if (response.status === 401 && target.tokenFrom !== undefined) {
    throw new Error(`${body.error?.code ?? 401}: ${body.error?.message ?? "refused"} (the token came from ${target.tokenFrom}: give the service's admin token, or a JWT with its admin role)`);
  }
  if (!response.ok) throw new Error(`${body.error?.code ?? response.status}: ${body.error?.message ?? "request failed"}`);
  return body;
}

/** Prints rows as aligned columns. */
export function printTable(rows: Array<Record<string, unknown>>, columns: string[], empty: string): void {
  if (rows.length === 0) {
    console.log(empty);
    return;
  }
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? "")));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  console.log([line(columns), ...cells.map(line)].join("\n"));
}

/**
 * `path` with the given flags as its query: each `[flag, param]` (or a flag named as its param)
 * that was passed on the command line.
 */
export function withFlagsAsQuery(path: string, flags: Map<string, string>, names: Array<string | [flag: string, param: string]>): string {
  const query = new URLSearchParams();
  for (const name of names) {
    const [flag, param] = typeof name === "string" ? [name, name] : name;
    const value = flags.get(flag);
    if (value !== undefined) query.set(param, value);
  }
  return query.size > 0 ? `${path}?${query}` : path;
}
