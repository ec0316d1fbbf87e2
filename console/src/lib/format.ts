/** Formatting shared by the pages: durations, times, counts, JSON. Pure, so it is unit-tested. */

/** A duration in ms as people read it: "850 ms", "4.2 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  const sign = ms < 0 ? "-" : "";
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1_000).toFixed(abs < 10_000 ? 1 : 0)} s`;
  const s = Math.round(abs / 1_000);
  if (s < 3_600) return `${sign}${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  const m = Math.round(s / 60);
  if (m < 1_440) return `${sign}${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ""}`;
  const h = Math.round(m / 60);
  return `${sign}${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ""}`;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** An epoch-ms time as local "YYYY-MM-DD HH:MM:SS.mmm" (sortable, unambiguous). */
export function formatTime(at: number | null | undefined, withMs = false): string {
  if (at === null || at === undefined) return "–";
  const d = new Date(at);
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** How long ago (or how far ahead) `at` is from `now`: "5 s ago", "in 2 min". */
export function formatAgo(at: number, now: number): string {
  const delta = now - at;
  return delta >= 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(-delta)}`;
}

/** A count with thin thousands separators; "≥ n" when it was capped. */
export function formatCount(n: number | null | undefined, atLeast = false): string {
  if (n === null || n === undefined) return "–";
  const text = Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  return atLeast ? `≥ ${text}` : text;
}

/** JSON for people, shortened to `max` characters with an ellipsis. */
export function formatJson(value: unknown, max = Infinity, indent = 0): string {
  let text: string;
  try {
    text = JSON.stringify(value, null, indent) ?? "undefined";
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

/** A rate per second: "0/s", "0.4/s", "12/s", "1 250/s". */
export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond)) return "–";
  return perSecond > 0 && perSecond < 10 ? `${perSecond.toFixed(1)}/s` : `${formatCount(perSecond)}/s`;
}

/** The top-level fields whose values differ between two states (a state that is not an object counts as one field, "(value)"). */
export function changedFields(before: unknown, after: unknown): string[] {
  const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isRecord(before) || !isRecord(after)) return JSON.stringify(before) === JSON.stringify(after) ? [] : ["(value)"];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
}

/** Percent done of a rebuild from its offset and the feed head, 0 to 100. */
export function progressPercent(offset: number, head: number): number {
  if (head <= 0) return 100;
  return Math.max(0, Math.min(100, Math.floor((offset / head) * 100)));
}

/**
 * `text` cut to what fits `widthPx` as `measure` measures it, with "…" where it was cut (never
 * inside a character made of two UTF-16 units): a graph's box keeps its label inside it.
 */
export function fitLabel(text: string, widthPx: number, measure: (text: string) => number): string {
  if (measure(text) <= widthPx) return text;
  const chars = Array.from(text);
  // The longest start that fits with its "…" (at least one character).
  let fits = 1;
  let over = chars.length;
  while (over - fits > 1) {
    const middle = Math.floor((fits + over) / 2);
    if (measure(`${chars.slice(0, middle).join("")}…`) <= widthPx) fits = middle;
    else over = middle;
  }
  return `${chars.slice(0, fits).join("")}…`;
}

/**
 * The workflow an idempotency key belongs to, when it is one of a workflow step's calls
 * (`wf:{workflow}:{id}:{execution}:{n}`, or a `ctx.run`'s `…:{execution}:run:{name}:{n}`):
 * `workflows` names those the service has (an id may hold ":").
 */
export function workflowOfKey(key: string, workflows: readonly string[]): { name: string; id: string } | undefined {
  for (const name of workflows) {
    const prefix = `wf:${name}:`;
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const call = /^(.+):\d+:\d+$/.exec(rest) ?? /^(.+):\d+:run:.+:\d+$/.exec(rest);
    if (call) return { name, id: call[1]! };
  }
  return undefined;
}
