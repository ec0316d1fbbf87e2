import { usePoll } from "../api.ts";
import { formatAgo, formatCount, formatTime } from "../lib/format.ts";
import { Link, seg } from "../router.tsx";
import type { ConsumerReport, LagHistory, ParkedMessage } from "../types.ts";
import { ActionButton, ErrorBox, Json, Loading, Section, Sparkline, type ActionResult } from "../ui.tsx";

/** A consumer's lag over the last minutes, as the service sampled it (so it is there when the page opens). */
function LagChart({ name }: { name: string }) {
  const history = usePoll<LagHistory>(`/consumers/${seg(name)}/lag`, 2_500);
  if (history.error) return <span class="bad small" title={history.error.message}>{history.error.code}</span>;
  return <Sparkline samples={history.data?.samples.map((s) => ({ at: s.at, value: s.lag })) ?? []} label={`lag of ${name}`} />;
}

/** A parked message's retry answers how many were delivered and parked: parked again is no success. */
function redelivered(reply: unknown): ActionResult {
  const { delivered = 0, parked = 0 } = (reply ?? {}) as { delivered?: number; parked?: number };
  return parked > 0 && delivered === 0
    ? { ok: false, text: "retried: parked again (its handler failed again: see its last error)" }
    : { ok: true, text: `retried: ${delivered} delivered` };
}

export function Consumers({ name }: { name: string | undefined }) {
  const report = usePoll<{ head: number; consumers: ConsumerReport[] }>("/consumers", 1_000);
  const parked = usePoll<{ parked: ParkedMessage[] }>(name ? `/consumers/${seg(name)}/parked?limit=100` : null, 1_500);
  const now = Date.now();
  return (
    <div class="page">
      <h1>Consumers</h1>
      <ErrorBox error={report.error} />
      {!report.data && !report.error ? <Loading what="consumers" /> : null}
      {report.data ? (
        <table class="consumers">
          <thead>
            <tr><th>Consumer</th><th>Source</th><th class="num">Offset</th><th class="num">Head</th><th class="num">Lag</th><th class="num">Parked</th><th>Lag, last 10 min</th></tr>
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
                <td class="lag-chart"><LagChart name={c.name} /></td>
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
                          <ActionButton label="retry" question={`deliver ${p.entry.position} again?`} path={`/consumers/${seg(name)}/parked/${p.entry.position}/retry`} onDone={parked.reload} describe={redelivered} />
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
