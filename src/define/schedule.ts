import { checkComponentName, checkDefinitionPart } from "./component.ts";
import type { DeferredCall } from "./handlers.ts";
import type { WorkflowDefinition } from "./workflow.ts";

/** A tick of a schedule: its instant (epoch ms) and name. */
export interface ScheduleTick {
  schedule: string;
  /** The tick's instant, epoch ms (a whole second). */
  at: number;
}

export interface ScheduleOptions {
  /** Six fields, seconds first: `sec min hour day-of-month month day-of-week` (e.g. `0 30 2 * * *`). */
  cron: string;
  /** An IANA time zone (e.g. `Europe/Berlin`); default UTC. Local times are read in it, DST included. */
  timeZone?: string;
  /**
   * Ticks that passed while no node ran schedules (more than `graceMs` late): `skip` them (default),
   * or `catch-up`: fire the latest of them once.
   */
  missed?: "skip" | "catch-up";
  /** How long before a node began running the schedules a tick may be due and still fire (not missed). Default 1,000 ms. */
  graceMs?: number;
  /** A deferred call (`deferred(component, id).command(input)`), made with the key `schedule:{name}:{tick}`. */
  call?: DeferredCall | ((tick: ScheduleTick) => DeferredCall);
  /** Or a workflow start, with the id `{name}-{tick ISO time}` (so a tick starts it once). */
  start?: { workflow: WorkflowDefinition; input: (tick: ScheduleTick) => unknown };
}

export interface ScheduleDefinition {
  readonly kind: "schedule";
  readonly name: string;
  readonly options: ScheduleOptions;
  readonly commands: {};
  readonly queries: {};
}

/**
 * A cron schedule: each tick fires once across all nodes (the node holding lease
 * `schedule/{name}` fires it, and its call is keyed by the tick). The last tick fired is stored,
 * so a restart neither repeats one nor loses track; ticks missed while no node ran are skipped or
 * caught up once (`missed`). Operators pause and resume it (`sagaflow schedules`).
 *
 * DST: a local time that does not exist (clocks spring forward) fires once at the end of the gap;
 * one that happens twice (clocks fall back) fires once, the first time.
 *
 * @example
 * const nightly = schedule("nightly-report", {
 *   cron: "0 0 2 * * *", timeZone: "Europe/Berlin",
 *   start: { workflow: report, input: (tick) => ({ day: new Date(tick.at).toISOString().slice(0, 10) }) },
 * });
 */
export function schedule(name: string, options: ScheduleOptions): ScheduleDefinition {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ cron, call or start, … })", options);
  if ((options.call === undefined) === (options.start === undefined)) {
    throw new TypeError(`schedule "${name}": give either \`call\` or \`start\``);
  }
  if (typeof options.cron !== "string") throw new TypeError(`schedule "${name}": cron must be a string of six fields, seconds first ("0 30 2 * * *")`);
  if (options.cron.trim().split(/\s+/).length !== 6) {
    throw new TypeError(`schedule "${name}": the cron expression needs six fields, seconds first ("0 30 2 * * *")`);
  }
  return { kind: "schedule", name, options, commands: {}, queries: {} };
}
