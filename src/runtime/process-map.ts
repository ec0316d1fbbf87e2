import type { StoredWorkflow, WorkflowTransition } from "../store/port.ts";

/** A step of the process map: visits that began in the window, instances there now, time spent in it. */
export interface ProcessMapStep {
  step: string;
  /** Visits of the step that began in the window (an instance that comes back counts again). */
  passed: number;
  /** Instances whose current step this is and that are not over (running, paused, suspended or failed). */
  now: number;
  /** Median and 99th percentile (nearest rank) of the time spent in the step, ms, over visits that ended; null when none did. */
  medianMs: number | null;
  p99Ms: number | null;
}

/** How often instances moved from one step to another in the window; `$start` and `$ended`/`$failed`/`$terminated` stand for the ends. */
export interface ProcessMapEdge {
  from: string;
  to: string;
  count: number;
}

/** What `GET /process-map/{workflow}` answers. */
export interface ProcessMap {
  workflow: string;
  since: number;
  until: number;
  /** Instances whose history was read (those updated in or after the window's start). */
  instances: number;
  /** True when more instances were there than the map reads (`maxInstances`): the figures are of the first ones by id. */
  truncated: boolean;
  steps: ProcessMapStep[];
  edges: ProcessMapEdge[];
}

const over = new Set(["ended", "terminated"]);

/** The nearest-rank percentile of sorted numbers. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/**
 * Folds instances and their histories into a process map. A visit of a step begins with the first
 * transition naming it after a transition naming another step (or the start), and ends at the next
 * transition naming another step or at the instance's end (ended, terminated).
 */
export function buildProcessMap(
  workflow: string,
  declaredSteps: readonly string[],
  instances: ReadonlyArray<{ record: StoredWorkflow; history: ReadonlyArray<WorkflowTransition> }>,
  window: { since: number; until: number },
  truncated: boolean,
): ProcessMap {
  const inWindow = (at: number) => at >= window.since && at <= window.until;
  const passed = new Map<string, number>();
  const now = new Map<string, number>();
  const durations = new Map<string, number[]>();
  const edges = new Map<string, ProcessMapEdge>();
  const edge = (from: string, to: string) => {
    const key = `${from}\u0000${to}`;
    const found = edges.get(key) ?? { from, to, count: 0 };
    found.count += 1;
    edges.set(key, found);
  };
  for (const { record, history } of instances) {
    if (record.step !== null && !over.has(record.status)) now.set(record.step, (now.get(record.step) ?? 0) + 1);
    let current: string | null = null;
    let since = 0;
    let closed = false;
    for (const t of history) {
      if (t.step !== null && t.step !== current) {
        if (current !== null && !closed && inWindow(since)) push(durations, current, t.at - since);
        if (inWindow(t.at)) {
          edge(current ?? "$start", t.step);
          passed.set(t.step, (passed.get(t.step) ?? 0) + 1);
        }
        current = t.step;
        since = t.at;
        closed = false;
      }
      if (!closed && current !== null && (over.has(t.status) || t.status === "failed")) {
        // A failed instance stays in its step until an operator acts: the visit ends only when it is over.
        if (over.has(t.status)) {
          if (inWindow(since)) push(durations, current, t.at - since);
          if (inWindow(t.at)) edge(current, `$${t.status}`);
          closed = true;
        } else if (inWindow(t.at) && history.at(-1) === t) {
          edge(current, "$failed");
        }
      }
    }
  }
  const names = [...declaredSteps, ...[...passed.keys()].filter((s) => !declaredSteps.includes(s))];
  const steps = names.map((step): ProcessMapStep => {
    const times = (durations.get(step) ?? []).sort((a, b) => a - b);
    return { step, passed: passed.get(step) ?? 0, now: now.get(step) ?? 0, medianMs: percentile(times, 50), p99Ms: percentile(times, 99) };
  });
  return { workflow, since: window.since, until: window.until, instances: instances.length, truncated, steps, edges: [...edges.values()] };
}

function push(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
