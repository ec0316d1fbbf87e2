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

/** Calls a running service's admin API; errors come back as readable messages. */
export async function adminRequest(base: string, method: "GET" | "POST", path: string, payload?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(
      new URL(path, base),
      payload === undefined ? { method } : { method, headers: { "content-type": "application/json" }, body: JSON.stringify(payload) },
    );
  } catch {
    throw new Error(`cannot reach the admin API at ${base} (is the service running? --admin URL)`);
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
