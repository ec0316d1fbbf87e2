import { randomBytes } from "node:crypto";
import { logEvent, logInternalError } from "../../observe/log-event.ts";
import type { ClusterSignal, ClusterStore, Fence, NodeRecord } from "../../store/cluster-port.ts";
import { ClockOffset } from "./clock-offset.ts";
import { ENGINE_PROTOCOL, protocolOf } from "./engine-protocol.ts";

/** What holds a share of the work: told when its lease is taken and when it is gone. */
export interface LeaseHolder {
  /** The lease is this node's: start the work. `fence` is undefined on a single node (no one to fence off). */
  acquired(fence: Fence | undefined): void | Promise<void>;
  /** The lease is gone (or the node stops): stop the work. Writes still in flight are fenced off. */
  lost(): void | Promise<void>;
}

export interface MembershipOptions {
  /** Absent: this node is alone and holds every lease for good. */
  cluster: ClusterStore | undefined;
  /**
   * A name for this node (default "node"). Its id is the name plus a random part new at every
   * start: a restarted process never holds (or renews) a lease of its previous life, which a
   * process of that life still running somewhere could otherwise write with.
   */
  nodeName?: string;
  /** How long a lease lasts without renewal: a dead node's work moves within about twice this. Default 5,000 ms. */
  leaseMs?: number;
  /** What the node says of itself in `sagaflow nodes` (address, pid). */
  info?: Record<string, unknown>;
  /**
   * A node silent for longer than this is dead for good: a live node deletes its row, so that
   * `sagaflow nodes` stops listing it. Default 1 hour.
   */
  forgetDeadNodesAfterMs?: number;
  log: (line: string) => void;
  /** Signals of other nodes' commits. */
  onSignal?: (signal: ClusterSignal) => void;
  /** The listening connection came back: signals may have been missed. */
  onReconnect?: () => void;
}

/** What `sagaflow nodes` shows: the live nodes, what each holds, and the leases nobody holds. */
export interface NodesReport {
  self: string;
  clustered: boolean;
  leaseMs: number;
  nodes: Array<{ id: string; alive: boolean; heartbeatAgeMs: number; startedAt: number; info: Record<string, unknown>; leases: string[] }>;
  /** Leases free or expired: their work waits for a node to take them (at most about two lease times). */
  unheld: string[];
}

interface Held {
  token: number;
  /** Local monotonic time (ms) until which the lease is surely ours: renewal start + lease time. */
  validUntil: number;
}

export const DEFAULT_LEASE_MS = 5_000;
/** Nodes silent for this many lease times are removed from the table. */
/** Default of `forgetDeadNodesAfterMs`. */
export const DEFAULT_FORGET_DEAD_NODES_AFTER_MS = 60 * 60 * 1000;

/**
 * This node's place among the nodes sharing one store. Every lease time / 3 it writes a heartbeat,
 * renews its leases, and evens out the work: with N live nodes and L leases it holds up to
 * ceil(L / N), taking expired or free leases and giving up the ones above its share, so a new node
 * gets work and a dead node's leases are taken over once they expire. While another node holds
 * fewer than floor(L / N), those above the floor give the excess up, so shares end within one.
 * A lease free for longer than one lease time is taken whatever the share: no work waits on a
 * miscount of live nodes.
 *
 * A lease not renewed in time counts as lost here before it expires in the database (the local
 * deadline starts when the renewal was sent), so a node stops work before another may start it;
 * fencing tokens make a late write harmless anyway.
 */
export class Membership {
  readonly nodeId: string;
  readonly leaseMs: number;
  /** Nodes silent for longer than this are deleted from the node table. */
  readonly forgetAfterMs: number;
  private readonly holders = new Map<string, LeaseHolder>();
  private readonly held = new Map<string, Held>();
  /** Leases given up to even out (lease → until when, performance.now()): left to the others to take, not taken back as abandoned. */
  private readonly givenUp = new Map<string, number>();
  private readonly startedAt = Date.now();
  /** What this node says of itself in its heartbeat (the server adds its address once listening). */
  info: Record<string, unknown>;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private stopped = false;
  /** Other live nodes at the last heartbeat (unknown before the first). */
  private othersLive = Infinity;
  /** Serialises acquired/lost callbacks per lease, so a holder never sees them overlap. */
  private readonly transitions = new Map<string, Promise<void>>();
  /** This node's clock against the database's, measured at each heartbeat. */
  readonly clock: ClockOffset;
  /** Live nodes on an older engine protocol seen at the last heartbeat: this node holds no work meanwhile. */
  private olderNodes: string[] = [];

  constructor(private readonly options: MembershipOptions) {
    const name = options.nodeName ?? "node";
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new TypeError(`a node name is 1 to 64 letters, digits, _ . or -; got "${name}"`);
    this.nodeId = `${name}-${randomBytes(3).toString("hex")}`;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.forgetAfterMs = options.forgetDeadNodesAfterMs ?? DEFAULT_FORGET_DEAD_NODES_AFTER_MS;
    this.info = { ...options.info, protocol: ENGINE_PROTOCOL };
    this.clock = new ClockOffset(this.nodeId, options.log);
    if (!Number.isSafeInteger(this.leaseMs) || this.leaseMs < 300) throw new RangeError(`the lease time must be a whole number of ms ≥ 300, got ${this.leaseMs}`);
  }

  /**
   * No other node was live at the last heartbeat (or the store is not shared): a copy this node
   * cached is then likely current. A hint for what may skip a read, never for what is promised.
   */
  get alone(): boolean {
    return !this.clustered || this.othersLive === 0;
  }

  get clustered(): boolean {
    return this.options.cluster !== undefined;
  }

  /** Registers a share of work before `start`. */
  register(lease: string, holder: LeaseHolder): void {
    if (this.holders.has(lease)) throw new Error(`lease "${lease}" registered twice`);
    this.holders.set(lease, holder);
  }

  /** Whether this node holds `lease` now. */
  holds(lease: string): boolean {
    if (!this.clustered) return this.holders.has(lease);
    const held = this.held.get(lease);
    return held !== undefined && held.validUntil > performance.now();
  }

  /** The fence for writes on behalf of `lease`; undefined on a single node. */
  fence(lease: string): Fence | undefined {
    const held = this.held.get(lease);
    return held === undefined || !this.clustered ? undefined : { lease, token: held.token };
  }

  heldLeases(): string[] {
    return [...this.held.keys()].sort();
  }

  async start(): Promise<void> {
    const { cluster } = this.options;
    if (!cluster) {
      for (const lease of this.holders.keys()) this.held.set(lease, { token: 0, validUntil: Infinity });
      await Promise.all([...this.holders.values()].map(async (holder) => holder.acquired(undefined)));
      return;
    }
    this.unlisten = await cluster.listen(
      this.nodeId,
      (signal) => this.heard(signal),
      () => this.options.onReconnect?.(),
    );
    // Before the first heartbeat: older nodes must not see this one at all while it yields to them.
    try {
      this.yieldsToOlderNodes(cluster, await cluster.listNodes());
    } catch (error) {
      this.options.log(`sagaflow: node ${this.nodeId}: reading the other nodes failed: ${String(error)}`);
    }
    await this.runRound();
    this.schedule();
  }

  /**
   * Passes another node's signal on. A signal this node failed to handle is a signal missed: it
   * looks again as after a reconnect (distrusting what it cached), and nothing throws into the
   * store's listening connection.
   */
  private heard(signal: ClusterSignal): void {
    try {
      this.options.onSignal?.(signal);
    } catch (error) {
      logInternalError(this.options.log, error, `signal from node ${signal.node}`);
      try {
        this.options.onReconnect?.();
      } catch (again) {
        logInternalError(this.options.log, again, "looking again after a signal not handled");
      }
    }
  }

  /** Gives every lease up (others take over at once) and leaves the node table. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    // A database that does not answer must not hold the shutdown: its leases expire anyway.
    const atMost = <T>(work: Promise<T> | undefined) => Promise.race([work, new Promise<void>((r) => setTimeout(r, this.leaseMs).unref())]);
    await atMost(this.round);
    const leases = [...this.held.keys()];
    await this.lose(leases, "stopping");
    const { cluster } = this.options;
    if (!cluster) return;
    try {
      await atMost(cluster.releaseLeases(this.nodeId, leases).then(() => cluster.forgetNodes(this.nodeId, this.forgetAfterMs)));
    } catch (error) {
      this.options.log(`sagaflow: could not give up leases on stop (they expire in ${this.leaseMs} ms): ${String(error)}`);
    }
    await atMost(this.unlisten?.());
  }

  async report(): Promise<NodesReport> {
    const { cluster } = this.options;
    if (!cluster) {
      const self = { id: this.nodeId, alive: true, heartbeatAgeMs: 0, startedAt: this.startedAt, info: this.info, leases: this.heldLeases() };
      return { self: this.nodeId, clustered: false, leaseMs: this.leaseMs, nodes: [self], unheld: [] };
    }
    const [nodes, leases] = await Promise.all([cluster.listNodes(), cluster.listLeases()]);
    // Nodes long dead (killed, never stopped) would stay in `sagaflow nodes` for ever: forget them.
    if (nodes.some((n) => n.id !== this.nodeId && n.ageMs > this.forgetAfterMs)) await this.forgetDead(cluster, nodes);
    const live = leases.filter((l) => l.holder !== null && l.remainingMs > 0);
    return {
      self: this.nodeId,
      clustered: true,
      leaseMs: this.leaseMs,
      nodes: nodes.map((n) => ({
        id: n.id,
        alive: n.ageMs < this.leaseMs,
        heartbeatAgeMs: n.ageMs,
        startedAt: n.startedAt,
        info: n.info,
        leases: live.filter((l) => l.holder === n.id).map((l) => l.name),
      })),
      // Only leases this code has: a row an older version left (its single `timers` lease) holds no work here.
      unheld: leases.filter((l) => !live.includes(l) && this.holders.has(l.name)).map((l) => l.name),
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round = this.runRound().finally(() => this.schedule());
    }, Math.floor(this.leaseMs / 3));
    this.timer.unref();
  }

  /** One heartbeat: renew, drop what was lost, even out the shares. Never throws. */
  private async runRound(): Promise<void> {
    const cluster = this.options.cluster!;
    const sentAt = performance.now();
    try {
      // Yielding to older nodes, this node stays out of their sight: one counted as live would
      // make them give up half the work for a node that takes none (leases moving all the time).
      if (this.olderNodes.length === 0) {
        const wallSent = Date.now();
        const databaseAt = await cluster.heartbeat(this.nodeId, this.startedAt, this.info);
        this.clock.measured(wallSent, databaseAt, Date.now());
        // Said in the next heartbeat, for `sagaflow nodes`.
        if (this.clock.offsetMs !== undefined) this.info["clockOffsetMs"] = this.clock.offsetMs;
      }
      const renewed = await cluster.acquireLeases(this.nodeId, [...this.held.keys()], this.leaseMs);
      const notRenewed = [...this.held.keys()].filter((lease) => !renewed.has(lease));
      // Renewed with another token: the lease was another node's in between (it took it and gave
      // it back, while this node was frozen) — the work here holds the old token, whose writes are
      // refused, and has stopped or will: it starts again, under the new one.
      const retaken = [...renewed].filter(([lease, token]) => this.held.has(lease) && this.held.get(lease)!.token !== token);
      for (const [lease, token] of renewed) if (this.held.has(lease)) this.held.set(lease, { token, validUntil: sentAt + this.leaseMs });
      void this.lose(notRenewed, "not renewed: another node holds them");
      if (retaken.length > 0) this.restart(retaken);
      await this.evenOut(cluster, sentAt);
    } catch (error) {
      this.options.log(`sagaflow: node ${this.nodeId}: heartbeat failed: ${String(error)}`);
      // Leases past their local deadline are no longer surely ours.
      const now = performance.now();
      void this.lose([...this.held].filter(([, held]) => held.validUntil <= now).map(([lease]) => lease), "expired while the database did not answer");
    }
  }

  private async forgetDead(cluster: ClusterStore, nodes: NodeRecord[]): Promise<void> {
    try {
      await cluster.forgetNodes(undefined, this.forgetAfterMs);
      const gone = nodes.filter((n) => n.id !== this.nodeId && n.ageMs > this.forgetAfterMs).map((n) => n.id);
      this.options.log(`sagaflow: forgot node(s) silent for over ${Math.round(this.forgetAfterMs / 1000)} s: ${gone.join(", ")}`);
    } catch (error) {
      this.options.log(`sagaflow: could not forget dead nodes: ${String(error)}`);
    }
  }

  private async evenOut(cluster: ClusterStore, sentAt: number): Promise<void> {
    if (this.stopped) return;
    const [nodes, leases] = await Promise.all([cluster.listNodes(), cluster.listLeases()]);
    // Nodes long dead (killed, never stopped) would stay in `sagaflow nodes` for ever: forget them.
    if (nodes.some((n) => n.id !== this.nodeId && n.ageMs > this.forgetAfterMs)) await this.forgetDead(cluster, nodes);
    if (this.yieldsToOlderNodes(cluster, nodes)) return;
    const liveNodes = new Set(nodes.filter((n) => n.ageMs < this.leaseMs).map((n) => n.id));
    liveNodes.add(this.nodeId);
    const live = liveNodes.size;
    this.othersLive = live - 1;
    const mine = [...this.holders.keys()];
    const share = Math.ceil(mine.length / live);
    const floor = Math.floor(mine.length / live);
    const byName = new Map(leases.map((l) => [l.name, l]));
    // Someone below the fair floor (a node that just joined): those above it make room.
    const holdings = new Map([...liveNodes].map((id) => [id, 0]));
    for (const l of leases) if (l.holder !== null && l.remainingMs > 0 && holdings.has(l.holder)) holdings.set(l.holder, holdings.get(l.holder)! + 1);
    const someoneShort = [...holdings].some(([id, count]) => id !== this.nodeId && count < floor);
    const keep = someoneShort ? floor : share;
    const free = mine.filter((lease) => {
      if (this.held.has(lease)) return false;
      const record = byName.get(lease);
      return record === undefined || record.holder === null || record.remainingMs <= 0;
    });
    for (const [lease, until] of this.givenUp) if (until <= sentAt) this.givenUp.delete(lease);
    const abandoned = free.filter((lease) => {
      const record = byName.get(lease);
      if (this.givenUp.has(lease)) return false; // the node it went to takes it; if none does, here it comes back
      return record === undefined || record.holder === null || record.remainingMs <= -this.leaseMs;
    });
    const wanted = shuffle(free).slice(0, Math.max(0, share - this.held.size));
    for (const lease of abandoned) if (!wanted.includes(lease)) wanted.push(lease);
    if (wanted.length > 0) {
      const taken = await cluster.acquireLeases(this.nodeId, wanted, this.leaseMs);
      for (const [lease, token] of taken) {
        this.held.set(lease, { token, validUntil: sentAt + this.leaseMs });
        // Not awaited: taking up the work (a scan, a catch-up) must not delay the next heartbeat.
        void this.transition(lease, () => this.holders.get(lease)!.acquired({ lease, token }));
      }
      if (taken.size > 0) {
        const leases = [...taken.keys()];
        logEvent(this.options.log, "info", { event: "leases_acquired", leases, node: this.nodeId }, `sagaflow: node ${this.nodeId} took ${leases.length} lease(s): ${leases.join(", ")}`);
      }
    } else if (this.held.size > keep) {
      // Above our share (nodes joined): give the excess up; the others take it next round. Released
      // once their holders here have stopped (not renewed meanwhile: expiry is the bound), so the last
      // fenced writes of the work (a consumer's offset, the schedules' handover) still commit, and
      // the taker starts where they left off — as after a graceful stop. Not awaited: the heartbeat
      // goes on renewing the rest.
      const excess = shuffle([...this.held.keys()]).slice(0, this.held.size - keep);
      for (const lease of excess) this.givenUp.set(lease, sentAt + 2 * this.leaseMs);
      void this.lose(excess, "above its share: nodes joined").then(() => cluster.releaseLeases(this.nodeId, excess)).catch((error: unknown) => {
        this.options.log(`sagaflow: releasing leases ${excess.join(", ")}: ${String(error)}; they expire instead`);
      });
    }
  }

  /**
   * Two versions must not run the same work (see engine-protocol.ts): while a live node runs an
   * older protocol, this node gives up what it holds and takes nothing, and the older nodes run
   * it all; once none is left, the work comes back through the usual sharing. Said once each way.
   */
  private yieldsToOlderNodes(cluster: ClusterStore, nodes: NodeRecord[]): boolean {
    const older = nodes.filter((n) => n.id !== this.nodeId && n.ageMs < this.leaseMs && protocolOf(n.info) < ENGINE_PROTOCOL);
    const names = older.map((n) => `${n.id} (protocol ${protocolOf(n.info)})`);
    if (older.length > 0 && this.olderNodes.length === 0) {
      logEvent(this.options.log, "warn", { event: "older_nodes", nodes: names, node: this.nodeId, protocol: ENGINE_PROTOCOL },
        `sagaflow: WARNING: node(s) ${names.join(", ")} run an older Sagaflow than this node (engine protocol ${ENGINE_PROTOCOL}): ` +
          "this node takes no work while they are alive (two versions must not run the same work); it serves HTTP, and takes the work " +
          "over once they have stopped. A rolling upgrade: stop the older nodes once the newer ones are up.");
    } else if (older.length === 0 && this.olderNodes.length > 0) {
      logEvent(this.options.log, "info", { event: "older_nodes", nodes: [], node: this.nodeId, protocol: ENGINE_PROTOCOL },
        `sagaflow: node ${this.nodeId}: no node on an older Sagaflow is left (${this.olderNodes.join(", ")} gone); taking a share of the work`);
    }
    const beganYielding = older.length > 0 && this.olderNodes.length === 0;
    this.olderNodes = older.map((n) => n.id);
    if (older.length === 0) return false;
    this.othersLive = older.length;
    // Its row would count as a live node for them until it aged: gone at once.
    if (beganYielding) void cluster.forgetNodes(this.nodeId, this.forgetAfterMs).catch(() => {});
    const mine = [...this.held.keys()];
    if (mine.length > 0) {
      void this.lose(mine, "nodes on an older Sagaflow run the work").then(() => cluster.releaseLeases(this.nodeId, mine)).catch((error: unknown) => {
        this.options.log(`sagaflow: releasing leases ${mine.join(", ")}: ${String(error)}; they expire instead`);
      });
    }
    return true;
  }

  /** Stops the work of leases held again under a new token and starts it again under that token (held all along). */
  private restart(retaken: Array<[string, number]>): void {
    const leases = retaken.map(([lease]) => lease);
    logEvent(this.options.log, "info", { event: "leases_acquired", leases, node: this.nodeId },
      `sagaflow: node ${this.nodeId} holds ${leases.length} lease(s) again after another node held them in between: ${leases.join(", ")}; their work starts again`);
    for (const [lease, token] of retaken) {
      const holder = this.holders.get(lease)!;
      void this.transition(lease, () => holder.lost());
      void this.transition(lease, () => (this.held.get(lease)?.token === token ? holder.acquired({ lease, token }) : undefined));
    }
  }

  /** Gives `leases` up here (their holders stop), logged as one line with `why`. */
  private async lose(leases: readonly string[], why: string): Promise<void> {
    const lost = leases.filter((lease) => this.held.delete(lease));
    if (lost.length === 0) return;
    if (this.options.cluster) {
      logEvent(this.options.log, "info", { event: "leases_lost", leases: lost, node: this.nodeId, reason: why }, `sagaflow: node ${this.nodeId} gave up ${lost.length} lease(s) (${why}): ${lost.join(", ")}`);
    }
    await Promise.all(lost.map((lease) => this.transition(lease, () => this.holders.get(lease)!.lost())));
  }

  private transition(lease: string, change: () => void | Promise<void>): Promise<void> {
    const next = (this.transitions.get(lease) ?? Promise.resolve()).then(change).catch((error: unknown) => {
      this.options.log(`sagaflow: lease ${lease}: ${String(error)}`);
    });
    this.transitions.set(lease, next);
    return next;
  }
}

function shuffle<T>(list: T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
