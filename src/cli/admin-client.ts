/** Calls a running service's admin API; errors come back as readable messages. */
export async function adminRequest(base: string, method: "GET" | "POST", path: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(new URL(path, base), { method });
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
