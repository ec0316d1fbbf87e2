import { useEffect, useState } from "preact/hooks";
import { api, ApiError, usePoll } from "../api.ts";
import { formatCount, formatDuration, formatRate } from "../lib/format.ts";
import { filtersToQuery, workflowStatuses } from "../lib/query.ts";
import { Link } from "../router.tsx";
import type { ConsumerReport, NodesReport, RatesReport, ViewReport } from "../types.ts";
import { ErrorBox, Section, Sparkline, Status } from "../ui.tsx";

const countCap = 1_000;

/** Workflows by status: one capped list read per status. */
function useStatusCounts(): { counts: Record<string, number> | undefined; error: ApiError | undefined } {
  const [counts, setCounts] = useState<Record<string, number>>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = async () => {
      try {
        const next: Record<string, number> = {};
        for (const status of workflowStatuses) {
          next[status] = (await api<{ workflows: unknown[] }>(`/workflows?status=${status}&limit=${countCap}`)).workflows.length;
        }
        if (!stopped) {
          setCounts(next);
          setError(undefined);
        }
      } catch (e) {
        if (!stopped) setError(e instanceof ApiError ? e : new ApiError(0, "error", String(e)));
      }
      if (!stopped) timer = setTimeout(() => void read(), 2_000);
    };
    void read();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, []);
  return { counts, error };
}

export function Overview() {
  const nodes = usePoll<NodesReport>("/nodes", 2_000);
  const consumers = usePoll<{ head: number; consumers: ConsumerReport[] }>("/consumers", 1_500);
  const views = usePoll<{ head: number; views: ViewReport[] }>("/views", 1_500);
  const health = usePoll<{ status: string; reason?: string; message?: string }>("/health", 2_000);
  const { counts, error: countError } = useStatusCounts();
  // Rates the service samples itself (every 5 s, the last 10 minutes), so the chart is there when the page opens.
  const rates = usePoll<RatesReport>("/rates", 2_000);
  const parkedMessages = consumers.data?.consumers.reduce((n, c) => n + c.parked, 0);
  const parkedEntries = views.data?.views.reduce((n, v) => n + v.parked, 0);
  return (
    <div class="page">
      <h1>Overview</h1>
      <ErrorBox error={rates.error} />
      <div class="tiles">
        <div class="tile">
          <div class="tile-label">Store</div>
          {/* Refused for want of a token says nothing about the store. */}
          {health.error?.status === 401 || health.error?.status === 403 ? (
            <>
              <div class="tile-value muted">—</div>
              <div class="small">needs the admin token</div>
            </>
          ) : (
            <>
              <div class={`tile-value ${health.data?.status === "ok" ? "good" : "bad"}`}>{health.data?.status ?? (health.error ? "unavailable" : "…")}</div>
              {health.data?.message ? <div class="small">{health.data.message}</div> : null}
            </>
          )}
        </div>
        <div class="tile rate" data-rate="commands">
          <div class="tile-label">Commands</div>
          <div class="tile-value">{formatRate(rates.data?.now.commandsPerSecond)}</div>
          <Sparkline samples={rates.data?.samples.map((r) => ({ at: r.at, value: r.commandsPerSecond })) ?? []} label="commands per second" format={formatRate} />
          <div class="small muted since-start">{formatCount(rates.data?.totals.commands)} since start</div>
        </div>
        <div class="tile rate" data-rate="commits">
          <div class="tile-label">Commits</div>
          <div class="tile-value">{formatRate(rates.data?.now.commitsPerSecond)}</div>
          <Sparkline samples={rates.data?.samples.map((r) => ({ at: r.at, value: r.commitsPerSecond })) ?? []} label="commits per second" format={formatRate} />
          <div class="small muted since-start">{formatCount(rates.data?.totals.commits)} since start · feed head {formatCount(consumers.data?.head)}</div>
        </div>
        <Link class="tile" href="/consumers">
          <div class="tile-label">Parked messages</div>
          <div class={`tile-value ${parkedMessages ? "bad" : ""}`}>{formatCount(parkedMessages)}</div>
        </Link>
        <Link class="tile" href="/views">
          <div class="tile-label">Parked view entries</div>
          <div class={`tile-value ${parkedEntries ? "bad" : ""}`}>{formatCount(parkedEntries)}</div>
        </Link>
      </div>
      <Section title="Workflows by status">
        <ErrorBox error={countError} />
        <div class="tiles">
          {workflowStatuses.map((status) => (
            <Link key={status} class="tile" href={`/workflows${filtersToQuery({ status: [status] })}`}>
              <div class="tile-label">
                <Status status={status} />
              </div>
              <div class={`tile-value ${status === "failed" && counts?.[status] ? "bad" : ""}`}>{counts ? formatCount(counts[status], counts[status] === countCap) : "…"}</div>
            </Link>
          ))}
        </div>
      </Section>
      <div class="columns">
        <Section title="Consumers">
          <ErrorBox error={consumers.error} />
          <table>
            <thead>
              <tr><th>Consumer</th><th class="num">Lag</th><th class="num">Parked</th></tr>
            </thead>
            <tbody>
              {consumers.data?.consumers.map((c) => (
                <tr key={c.name}>
                  <td><Link href={`/consumers/${encodeURIComponent(c.name)}`}>{c.name}</Link></td>
                  <td class="num">{formatCount(c.lag, c.lagIsAtLeast)}</td>
                  <td class={`num ${c.parked ? "bad" : ""}`}>{formatCount(c.parked)}</td>
                </tr>
              ))}
              {consumers.data?.consumers.length === 0 ? <tr><td colSpan={3} class="muted">no consumers</td></tr> : null}
            </tbody>
          </table>
        </Section>
        <Section title="Views">
          <ErrorBox error={views.error} />
          <table>
            <thead>
              <tr><th>View</th><th class="num">Lag</th><th class="num">Parked</th><th>Rebuilding</th></tr>
            </thead>
            <tbody>
              {views.data?.views.map((v) => (
                <tr key={v.name}>
                  <td><Link href={`/views#${encodeURIComponent(v.name)}`}>{v.name}</Link></td>
                  <td class="num">{formatCount(v.lag)}</td>
                  <td class={`num ${v.parked ? "bad" : ""}`}>{formatCount(v.parked)}</td>
                  <td>{v.rebuilding ? `generation ${v.rebuilding.generation}` : "–"}</td>
                </tr>
              ))}
              {views.data?.views.length === 0 ? <tr><td colSpan={4} class="muted">no views</td></tr> : null}
            </tbody>
          </table>
        </Section>
      </div>
      <Section title="Nodes and leases">
        <ErrorBox error={nodes.error} />
        {nodes.data ? (
          <>
            <table>
              <thead>
                <tr><th>Node</th><th>Alive</th><th class="num">Heartbeat</th><th>Leases</th></tr>
              </thead>
              <tbody>
                {nodes.data.nodes.map((n) => (
                  <tr key={n.id}>
                    <td>{n.id}{n.id === nodes.data!.self ? " (this one)" : ""}</td>
                    <td>{n.alive ? "yes" : <span class="bad">no</span>}</td>
                    <td class="num">{formatDuration(n.heartbeatAgeMs)} ago</td>
                    <td class="small">{n.leases.join(", ") || "–"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p class="small muted">
              {nodes.data.clustered ? `lease ${formatDuration(nodes.data.leaseMs)}` : "one node (SQLite): it holds all the work"}
              {nodes.data.unheld.length > 0 ? <span class="bad"> · unheld: {nodes.data.unheld.join(", ")}</span> : null}
            </p>
          </>
        ) : null}
      </Section>
    </div>
  );
}
