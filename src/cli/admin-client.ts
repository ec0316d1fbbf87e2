/** The admin flag every operator command takes. */
export const adminFlag = "admin";

/**
 * The admin API's base URL from `--admin`, SAGAFLOW_ADMIN or the default. `localhost:3031` (no
 * scheme) means http://localhost:3031, and a bare `3031` means http://127.0.0.1:3031; anything
 * that is still not an http(s) URL is an error saying what is expected.
 */
export function adminBase(flags: Map<string, string>): string {
  const given = flags.get(adminFlag) ?? process.env["SAGAFLOW_ADMIN"];
  if (given === undefined) return "http://127.0.0.1:3001";
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

/** Where the admin API is and the token it may require. */
export interface AdminTarget {
  readonly url: string;
  readonly token: string | undefined;
}

/** The admin API's URL (see {@link adminBase}) and token: `--admin-token` or SAGAFLOW_ADMIN_TOKEN. */
export function adminTarget(flags: Map<string, string>): AdminTarget {
  const token = flags.get("admin-token") ?? process.env["SAGAFLOW_ADMIN_TOKEN"];
  return { url: adminBase(flags), token: token === "" ? undefined : token };
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
    response = await fetch(new URL(path, base), { method, headers, ...(payload === undefined ? {} : { body: JSON.stringify(payload) }) });
  } catch {
    throw new Error(`cannot reach the admin API at ${base} (is the service running? --admin URL)`);
  }
  // Any other server, the service's own port included, answers without the admin API's mark.
  if (response.headers.get("sagaflow-api") !== "admin") {
    throw new Error(`${base} did not answer as a Sagaflow admin API (HTTP ${response.status}): is it the service's port? --admin takes the admin port, 3001 by default (the service port + 1)`);
  }
  if (response.status === 401 && target.token === undefined) {
    throw new Error(`the admin API at ${base} needs a token: --admin-token T or SAGAFLOW_ADMIN_TOKEN`);
  }
  const body = (await response.json()) as { error?: { code: string; message: string } };
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
