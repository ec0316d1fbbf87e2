import { Cron } from "croner";
import type { ScheduleOptions } from "../../define/schedule.ts";

/** The instants a cron expression names in a time zone, computed by croner (DST included). */
export class CronTicks {
  private readonly cron: Cron;

  /** Throws, naming the schedule, for an expression croner refuses or one that names no instant at all. */
  constructor(options: Pick<ScheduleOptions, "cron" | "timeZone">, name: string) {
    try {
      this.cron = new Cron(options.cron, { timezone: options.timeZone ?? "UTC", paused: true, mode: "6-part" });
    } catch (error) {
      throw new TypeError(`schedule "${name}": cron "${options.cron}": ${error instanceof Error ? error.message : String(error)}`);
    }
    // "0 0 0 30 2 *" (February 30th) is a valid expression that never fires.
    if (this.next(Date.now()) === undefined) throw new TypeError(`schedule "${name}": cron "${options.cron}" names no instant that will come: it would never fire`);
  }

  /** The first tick strictly after `after` (epoch ms), or undefined if none. */
  next(after: number): number | undefined {
    return this.cron.nextRun(new Date(after))?.getTime();
  }

  /** The ticks in (after, until], at most `limit`, in order. */
  between(after: number, until: number, limit = 10_000): number[] {
    const ticks: number[] = [];
    let at = this.next(after);
    while (at !== undefined && at <= until && ticks.length < limit) {
      ticks.push(at);
      at = this.next(at);
    }
    return ticks;
  }
}
