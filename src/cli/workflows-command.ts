import { parseArgs } from "./args.ts";

export const workflowsUsage = `  sagaflow workflows list [--name N] [--status running,failed] [--step S] [--limit N]
  sagaflow workflows show <name> <id>
  sagaflow workflows suspend|resume|terminate|retry <name> <id>
      (talk to a running service's admin API: --admin URL, default http://127.0.0.1:3001)`;

async function admin(base: string, method: "GET" | "POST", path: string): Promise<unknown> {
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

function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? "")));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), ...cells.map(line)].join("\n");
}

/** `sagaflow workflows …`: operator controls over the admin API. */
export async function workflowsCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv);
  const base = flags.get("admin") ?? process.env["SAGAFLOW_ADMIN"] ?? "http://127.0.0.1:3001";
  const [action, name, id] = positionals;
  if (action === "list") {
    const query = new URLSearchParams();
    for (const key of ["name", "status", "step", "limit"]) {
      const value = flags.get(key);
      if (value !== undefined) query.set(key, value);
    }
    const { workflows } = (await admin(base, "GET", `/workflows?${query}`)) as { workflows: Array<Record<string, unknown>> };
    const rows = workflows.map((w) => ({ ...w, lastError: (w["lastError"] as { code?: string } | null)?.code ?? "" }));
    console.log(rows.length === 0 ? "no workflows" : table(rows, ["name", "id", "status", "step", "attempt", "lastError"]));
    return;
  }
  if (!name || !id) throw new Error(`usage:\n${workflowsUsage}`);
  const path = `/workflows/${encodeURIComponent(name)}/${encodeURIComponent(id)}`;
  if (action === "show") {
    console.log(JSON.stringify(await admin(base, "GET", path), null, 2));
  } else if (action === "suspend" || action === "resume" || action === "terminate" || action === "retry") {
    console.log(JSON.stringify(await admin(base, "POST", `${path}/${action}`)));
  } else {
    throw new Error(`usage:\n${workflowsUsage}`);
  }
}
