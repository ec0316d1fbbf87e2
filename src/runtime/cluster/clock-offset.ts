import { logEvent } from "../../observe/log-event.ts";

/** Past this, a node's clock is said to be off (a timer due at t fires this much early or late). */
export const clockOffsetWarnMs = 1_000;

/**
 * How far this node's wall clock is from the database's, measured at each heartbeat: the database's
 * clock when it wrote the heartbeat, minus the middle of the round trip. Leases run on the
 * database's clock, but due times (timers, step timeouts, deadlines, schedules) are read by each
 * node's own: nodes whose clocks disagree fire work early or late by the difference — a timer
 * started on one node may fire before its due time on another. Said once when the offset passes
 * `warnMs` (a `clock_offset` warning), and once when it is back within it.
 */
export class ClockOffset {
  /** The last offset measured, in ms (positive: the database is ahead of this node); undefined before the first. */
  offsetMs: number | undefined;
  private off = false;

  constructor(
    private readonly node: string,
    private readonly log: (line: string) => void,
    private readonly warnMs = clockOffsetWarnMs,
  ) {}

  /** One heartbeat: sent at `sentAt`, answered at `answeredAt` (this node's wall clock), written at `databaseAt` (the database's). */
  measured(sentAt: number, databaseAt: number, answeredAt: number): void {
    const roundTrip = answeredAt - sentAt;
    // A slow round trip bounds the offset too loosely to say anything: keep the last measure.
    if (!Number.isFinite(databaseAt) || roundTrip < 0 || roundTrip > this.warnMs) return;
    const offset = Math.round(databaseAt - (sentAt + answeredAt) / 2);
    this.offsetMs = offset;
    // Off only when off by more than the measure's uncertainty (half the round trip) allows.
    const off = Math.abs(offset) - roundTrip / 2 > this.warnMs;
    if (off && !this.off) {
      const seconds = (Math.abs(offset) / 1000).toFixed(1);
      logEvent(this.log, "warn", { event: "clock_offset", node: this.node, offset_ms: offset },
        `sagaflow: WARNING: node ${this.node}'s clock is ${seconds} s ${offset > 0 ? "behind" : "ahead of"} the database's. ` +
          "Timers, step timeouts and schedules are due by each node's own clock, so work fires up to that much " +
          `${offset > 0 ? "late" : "early"} here (a timer started on another node may fire before its due time): synchronise the nodes' clocks (NTP, chrony)`);
    } else if (!off && this.off) {
      logEvent(this.log, "info", { event: "clock_offset", node: this.node, offset_ms: offset },
        `sagaflow: node ${this.node}'s clock is back within ${this.warnMs} ms of the database's (${offset} ms)`);
    }
    this.off = off;
  }
}
