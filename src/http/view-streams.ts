import type { ServerResponse } from "node:http";
import type { ServiceFacade } from "../runtime/facades.ts";
import type { ViewQueryOptions } from "../runtime/views/view-service.ts";

/** How streamed view queries share work and how far behind a reader may fall. */
export interface ViewStreamSettings {
  /** A streamed query is re-run at most once per this many ms, however many writes arrive (default 200). */
  intervalMs: number;
  /** A reader that has not taken what it was sent for this long is closed (default 30 s). */
  maxBehindMs: number;
}

/** Settings from `given`, else SAGAFLOW_VIEW_STREAM_INTERVAL_MS / SAGAFLOW_VIEW_STREAM_MAX_BEHIND_MS, else defaults. */
export function resolveViewStreamSettings(given: Partial<ViewStreamSettings> = {}, env: NodeJS.ProcessEnv = process.env): ViewStreamSettings {
  const read = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1, not "${raw}"`);
    return value;
  };
  return {
    intervalMs: given.intervalMs ?? read("SAGAFLOW_VIEW_STREAM_INTERVAL_MS", 200),
    maxBehindMs: given.maxBehindMs ?? read("SAGAFLOW_VIEW_STREAM_MAX_BEHIND_MS", 30_000),
  };
}

/** One open stream: what it has been sent, and what waits for it to drain. */
interface Reader {
  res: ServerResponse;
  /** The group's frame number this reader has (or is taking). */
  version: number;
  /** Writing would pile up: the socket has not taken the last frame yet. */
  blocked: boolean;
  /** Closes the reader if it stays blocked for maxBehindMs. */
  cutTimer: NodeJS.Timeout | undefined;
}

/** The streams of one (view, query, parameters, page): one query run and one frame for all of them. */
interface Group {
  readers: Set<Reader>;
  /** The latest result as an SSE frame (one Buffer shared by every socket it is written to). */
  frame: Buffer | undefined;
  json: string | undefined;
  version: number;
  /** The view moved since the last run. */
  dirty: boolean;
  running: boolean;
  lastRunAt: number;
  timer: NodeJS.Timeout | undefined;
  stopListening: () => void;
}

const frameOf = (event: "result" | "error", data: string) => Buffer.from(`event: ${event}\ndata: ${data}\n\n`);

/**
 * Streamed view queries (`Accept: text/event-stream`), shared: streams of the same query and
 * parameters form a group whose query runs at most once per `intervalMs` however many writes
 * arrive, and whose result is encoded once. A reader is sent the latest result only when it has
 * taken (drained) what it was sent before: intermediate results are skipped for a slow reader,
 * and one that takes nothing for `maxBehindMs` is closed. So a stream holds at most one frame in
 * its socket's buffer (shared with the other readers), and a group holds one more; a group goes
 * when its last stream closes.
 */
export class ViewStreams {
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly service: ServiceFacade,
    private readonly settings: ViewStreamSettings,
  ) {}

  /** Open groups (distinct streamed queries), for tests and operators. */
  get groupCount(): number {
    return this.groups.size;
  }

  /**
   * Adds `res` (headers not yet sent) as a reader of the query: the first result now (after
   * `options.waitForPosition`), then each change.
   */
  async open(res: ServerResponse, view: string, query: string, params: Record<string, unknown>, options: ViewQueryOptions): Promise<void> {
    // Later results need no waiting: they are sent because the view moved on.
    const later: ViewQueryOptions = options.pageToken === undefined ? {} : { pageToken: options.pageToken };
    const key = JSON.stringify([view, query, params, later.pageToken ?? null]);
    // The first result may wait (waitForPosition): a client gone meanwhile must not become a reader,
    // whose close already happened and would never remove it.
    let gone = false;
    const onGone = () => (gone = true);
    res.once("close", onGone);
    const first = frameOf("result", JSON.stringify(await this.service.queryView(view, query, params, options)));
    res.off("close", onGone);
    if (gone || res.destroyed) return;
    const group = this.groups.get(key) ?? this.newGroup(key, view, query, params, later);
    const reader: Reader = { res, version: -1, blocked: false, cutTimer: undefined };
    group.readers.add(reader);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    // The first result is at least as new as the group's frame: only later ones are offered.
    this.send(group, reader, first, group.version);
    // A comment line now and then keeps proxies from closing an idle stream (not while blocked).
    const heartbeat = setInterval(() => {
      if (!reader.blocked) res.write(": keep-alive\n\n");
    }, 15_000);
    heartbeat.unref();
    res.on("close", () => {
      clearInterval(heartbeat);
      clearTimeout(reader.cutTimer);
      group.readers.delete(reader);
      if (group.readers.size === 0) this.dropGroup(key, group);
    });
  }

  private newGroup(key: string, view: string, query: string, params: Record<string, unknown>, options: ViewQueryOptions): Group {
    const group: Group = {
      readers: new Set(),
      frame: undefined,
      json: undefined,
      version: 0,
      dirty: false,
      running: false,
      lastRunAt: 0,
      timer: undefined,
      stopListening: () => {},
    };
    const run = async () => {
      group.timer = undefined;
      group.running = true;
      group.dirty = false;
      group.lastRunAt = performance.now();
      try {
        const json = JSON.stringify(await this.service.queryView(view, query, params, options));
        if (json !== group.json) {
          group.json = json;
          group.frame = frameOf("result", json);
          group.version++;
        }
      } catch (error) {
        group.json = undefined;
        group.frame = frameOf("error", JSON.stringify({ error: String(error) }));
        group.version++;
      } finally {
        group.running = false;
      }
      if (!this.groups.has(key)) return; // every reader left meanwhile
      for (const reader of group.readers) this.offer(group, reader);
      if (group.dirty) schedule();
    };
    const schedule = () => {
      group.dirty = true;
      if (group.timer !== undefined || group.running) return;
      const wait = Math.max(0, group.lastRunAt + this.settings.intervalMs - performance.now());
      group.timer = setTimeout(() => void run(), wait);
    };
    group.stopListening = this.service.watchView(view, schedule);
    this.groups.set(key, group);
    return group;
  }

  private dropGroup(key: string, group: Group): void {
    group.stopListening();
    clearTimeout(group.timer);
    group.frame = undefined;
    group.json = undefined;
    this.groups.delete(key);
  }

  /** Sends the group's latest frame to a reader that has not got it, unless it is still taking the last one. */
  private offer(group: Group, reader: Reader): void {
    if (reader.blocked || group.frame === undefined || reader.version >= group.version) return;
    this.send(group, reader, group.frame, group.version);
  }

  private send(group: Group, reader: Reader, frame: Buffer, version: number): void {
    const { res } = reader;
    if (res.destroyed) return;
    reader.version = version;
    if (res.write(frame)) return;
    // The socket has not taken it all: send nothing more until it has (then the latest only).
    reader.blocked = true;
    reader.cutTimer = setTimeout(() => res.destroy(), this.settings.maxBehindMs);
    reader.cutTimer.unref();
    res.once("drain", () => {
      reader.blocked = false;
      clearTimeout(reader.cutTimer);
      reader.cutTimer = undefined;
      this.offer(group, reader);
    });
  }
}
