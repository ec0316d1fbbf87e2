import { useEffect, useRef, useState } from "preact/hooks";
import { usePoll } from "../api.ts";
import { formatAgo, formatCount, formatTime } from "../lib/format.ts";
import { Link, seg } from "../router.tsx";
import type { ConsumerReport, ParkedMessage } from "../types.ts";
import { ActionButton, ErrorBox, Json, Loading, Section, Sparkline } from "../ui.tsx";

const keep = 120;

/** Lag samples per consumer, taken while this page is open (the admin API reports lag now, not its history). */
function useLagHistory(consumers: ConsumerReport[] | undefined) {
  const history = useRef(new Map<string, Array<{ at: number; value: number }>>());
  const [, bump] = useState(0);
  useEffect(() => {
    if (!consumers) return;
    const at = Date.now();
    for (const c of consumers) {
      const list = history.current.get(c.name) ?? [];
      list.push({ at, value: c.lag });
      if (list.length > keep) list.shift();
      history.current.set(c.name, list);
    }
    bump((n) => n + 1);
  }, [consumers]);
  return history.current;
}

export function Consumers({ name }: { name: string | undefined }) {
  const report = usePoll<{ head: number; consumers: ConsumerReport[] }>("/consumers", 1_000);
  const parked = usePoll<{ parked: ParkedMessage[] }>(name ? `/consumers/${seg(name)}/parked?limit=100` : null, 1_500);
  const lags = useLagHistory(report.data?.consumers);
  const now = Date.now();
  return (
    <div class="page">
      <h1>Consumers</h1>
      <ErrorBox error={report.error} />
      {!report.data && !report.error ? <Loading what="consumers" /> : null}
      {report.data ? (
        <table class="consumers">
          <thead>
            <tr><th>Consumer</th><th>Source</th><th class="num">Offset</th><th class="num">Head</th><th class="num">Lag</th><th class="num">Parked</th><th>Lag over time</th></tr>
          </thead>
          <tbody>
            {report.data.consumers.map((c) => (
              <tr key={c.name} class={c.name === name ? "selected" : ""} data-consumer={c.name}>
                <td><Link href={`/consumers/${seg(c.name)}`}>{c.name}</Link></td>
                <td>{c.source}</td>
                <td class="num">{formatCount(c.offset)}</td>
                <td class="num">{formatCount(c.head)}</td>
                <td class="num lag">{formatCount(c.lag, c.lagIsAtLeast)}</td>
                <td class={`num parked ${c.parked ? "bad" : ""}`}>{formatCount(c.parked)}</td>
                <td><Sparkline samples={lags.get(c.name) ?? []} label={`lag of ${c.name}`} /></td>
              </tr>
            ))}
            {report.data.consumers.length === 0 ? <tr><td colSpan={7} class="muted">this service has no consumers</td></tr> : null}
          </tbody>
        </table>
      ) : null}
      {name ? (
        <Section title={`Parked messages of ${name}`}>
          <ErrorBox error={parked.error} />
          {parked.data?.parked.length === 0 ? <p class="muted">Nothing parked.</p> : null}
          {parked.data && parked.data.parked.length > 0 ? (
            <table class="parked">
              <thead>
                <tr><th class="num">Position</th><th>Instance</th><th>Type</th><th>Error</th><th class="num">Attempts</th><th>Parked</th><th>Payload</th><th>Actions</th></tr>
              </thead>
              <tbody>
                {parked.data.parked.map((p) => (
                  <tr key={p.entry.position} data-position={p.entry.position}>
                    <td class="num">{p.entry.position}</td>
                    <td>{p.entry.component}/{p.entry.id}</td>
                    <td>{p.entry.type}</td>
                    <td class="bad small">{p.blockedBy === null ? `${p.error.code}: ${p.error.message}` : `held behind ${p.blockedBy}`}</td>
                    <td class="num">{p.attempts}</td>
                    <td class="small" title={formatTime(p.parkedAt, true)}>{formatAgo(p.parkedAt, now)}</td>
                    <td><Json value={p.entry.payload} max={100} /></td>
                    <td class="row-actions">
                      {p.blockedBy === null ? (
                        <>
                          <ActionButton label="retry" question={`deliver ${p.entry.position} again?`} path={`/consumers/${seg(name)}/parked/${p.entry.position}/retry`} onDone={parked.reload} />
                          <ActionButton label="skip" question={`drop ${p.entry.position} for good?`} path={`/consumers/${seg(name)}/parked/${p.entry.position}/skip`} onDone={parked.reload} danger />
                        </>
                      ) : <span class="muted small">waits</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </Section>
      ) : <p class="muted small">Open a consumer to see its parked messages.</p>}
    </div>
  );
}
