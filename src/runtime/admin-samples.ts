/**
 * Recent history the admin API keeps in memory for the console: each consumer's lag and the
 * service's command and commit totals, sampled every few seconds into small rings (10 minutes by
 * default). Nothing of it is stored: after a restart the history starts again.
 */

/** A consumer's lag at one moment. */
export interface LagSample {
  at: number;
  lag: number;
}

/** Commands handled and group commits made since the service started, at one moment. */
export interface Totals {
  at: number;
  commands: number;
  commits: number;
}

/** Rates over one interval (per second). */
export interface RateSample {
  at: number;
  commandsPerSecond: number;
  commitsPerSecond: number;
}

/** `GET /rates`: the rate now (since the last sample), the totals, and the rate over each recent interval. */
export interface RatesReport {
  everyMs: number;
  now: RateSample;
  totals: Totals;
  samples: RateSample[];
}

/** `GET /consumers/{name}/lag`: recent samples, oldest first, and the lag now as the last one. */
export interface LagHistory {
  name: string;
  everyMs: number;
  samples: LagSample[];
}

/** What the sampler reads: every consumer's lag, and the totals. */
export interface SampleSources {
  lags(): Promise<Array<{ name: string; lag: number }>>;
  totals(): Promise<Omit<Totals, "at">>;
  now(): number;
}

/** A fixed number of the latest values, oldest first. */
export class Ring<T> {
  private readonly values: T[] = [];
  constructor(private readonly size: number) {}

  push(value: T): void {
    this.values.push(value);
    if (this.values.length > this.size) this.values.shift();
  }

  list(): T[] {
    return [...this.values];
  }
}

/** Per second, from two totals; 0 over an empty interval. */
export function rateBetween(from: Totals, to: Totals): RateSample {
  const seconds = (to.at - from.at) / 1_000;
  const per = (a: number, b: number) => (seconds > 0 ? Math.max(0, b - a) / seconds : 0);
  return { at: to.at, commandsPerSecond: per(from.commands, to.commands), commitsPerSecond: per(from.commits, to.commits) };
}

export class AdminSamples {
  private readonly lagRings = new Map<string, Ring<LagSample>>();
  private readonly totalRing: Ring<Totals>;
  private timer: ReturnType<typeof setInterval> | undefined;
  private sampling: Promise<void> | undefined;
  private readonly keep: number;
  readonly everyMs: number;

  constructor(
    private readonly sources: SampleSources,
    options: { everyMs?: number; keep?: number } = {},
  ) {
    this.everyMs = options.everyMs ?? 5_000;
    this.keep = options.keep ?? 120;
    this.totalRing = new Ring(this.keep + 1);
  }

  /** Takes a sample now and then every `everyMs`, until `stop`. */
  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.everyMs);
    // The history is for looking at: it must not keep a process alive.
    this.timer.unref();
  }

  /** Takes no more samples. One under way is not waited for (a broker's answer must not hold up a shutdown); if it fails on the closed store it records nothing. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample of everything; a failed read (the store is down) leaves a gap rather than a wrong value. */
  sample(): Promise<void> {
    if (this.sampling) return this.sampling;
    this.sampling = (async () => {
      const at = this.sources.now();
      try {
        this.totalRing.push({ at, ...(await this.sources.totals()) });
        for (const { name, lag } of await this.sources.lags()) {
          let ring = this.lagRings.get(name);
          if (!ring) this.lagRings.set(name, (ring = new Ring(this.keep)));
          ring.push({ at, lag });
        }
      } catch {
        // Nothing to record: the consumers page and /health say what is wrong.
      }
    })().finally(() => {
      this.sampling = undefined;
    });
    return this.sampling;
  }

  /** The samples of one consumer, then `current` (the lag now) as the last. */
  lagHistory(name: string, current: number): LagHistory {
    const samples = this.lagRings.get(name)?.list() ?? [];
    return { name, everyMs: this.everyMs, samples: [...samples, { at: this.sources.now(), lag: current }] };
  }

  /** The rates over each sampled interval, and now since the last sample (or the one before it, when that was under a second ago). */
  async rates(): Promise<RatesReport> {
    const totals = { at: this.sources.now(), ...(await this.sources.totals()) };
    const list = this.totalRing.list();
    const samples: RateSample[] = [];
    for (let i = 1; i < list.length; i++) samples.push(rateBetween(list[i - 1]!, list[i]!));
    const last = list.at(-1);
    const from = last && totals.at - last.at < 1_000 ? (list.at(-2) ?? last) : last;
    const now = from ? rateBetween(from, totals) : { at: totals.at, commandsPerSecond: 0, commitsPerSecond: 0 };
    return { everyMs: this.everyMs, now, totals, samples };
  }
}
