import { useState } from "preact/hooks";
import { api, ApiError, usePoll } from "../api.ts";
import { formatAgo, formatCount, progressPercent } from "../lib/format.ts";
import { seg } from "../router.tsx";
import type { ParkedViewEntry, ViewReport } from "../types.ts";
import { ActionButton, ErrorBox, Loading, ProgressBar, Section } from "../ui.tsx";

function Parked({ view }: { view: string }) {
  const parked = usePoll<{ parked: ParkedViewEntry[] }>(`/views/${seg(view)}/parked?limit=50`, 2_000);
  if (parked.error) return <ErrorBox error={parked.error} />;
  if (!parked.data || parked.data.parked.length === 0) return null;
  const now = Date.now();
  return (
    <table class="parked">
      <thead>
        <tr><th class="num">Position</th><th>Instance</th><th>Type</th><th>Error</th><th>Parked</th><th>Actions</th></tr>
      </thead>
      <tbody>
        {parked.data.parked.map((p) => (
          <tr key={p.position}>
            <td class="num">{p.position}</td>
            <td>{p.component}/{p.id}</td>
            <td>{p.type}</td>
            <td class="bad small">{p.error.code}: {p.error.message}</td>
            <td class="small">{formatAgo(p.parkedAt, now)}</td>
            <td class="row-actions">
              <ActionButton label="retry" question={`apply ${p.position} again?`} path={`/views/${seg(view)}/parked/${p.position}/retry`} onDone={parked.reload} />
              <ActionButton label="skip" question={`drop ${p.position}?`} path={`/views/${seg(view)}/parked/${p.position}/skip`} onDone={parked.reload} danger />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Views() {
  const views = usePoll<{ head: number; views: ViewReport[] }>("/views", 500);
  /** The generation each rebuild started here builds, to follow it to 100%. */
  const [started, setStarted] = useState<Record<string, number>>({});
  const [asking, setAsking] = useState<string>();
  const [failure, setFailure] = useState<ApiError>();
  const rebuild = async (name: string) => {
    setAsking(undefined);
    try {
      const reply = await api<{ rebuilding: { generation: number } }>(`/views/${seg(name)}/rebuild`, { method: "POST" });
      setStarted((s) => ({ ...s, [name]: reply.rebuilding.generation }));
      setFailure(undefined);
      views.reload();
    } catch (e) {
      setFailure(e instanceof ApiError ? e : new ApiError(0, "error", String(e)));
    }
  };
  return (
    <div class="page">
      <h1>Views</h1>
      <ErrorBox error={views.error ?? failure} />
      {!views.data && !views.error ? <Loading what="views" /> : null}
      {views.data?.views.length === 0 ? <p class="muted">This service has no views.</p> : null}
      {views.data?.views.map((v) => {
        const target = started[v.name];
        const building = v.rebuilding;
        const percent = building ? progressPercent(building.offset, v.head) : target !== undefined && (v.active?.generation ?? 0) >= target ? 100 : undefined;
        return (
          <Section
            key={v.name}
            id={v.name}
            title={v.name}
            actions={
              asking === v.name ? (
                <span class="confirm" role="group" aria-label={`confirm rebuild of ${v.name}`}>
                  <span>Rebuild {v.name} from the start of the feed? Queries keep the current generation until it is done.</span>
                  <button class="primary" onClick={() => void rebuild(v.name)}>Confirm rebuild</button>
                  <button onClick={() => setAsking(undefined)}>Cancel</button>
                </span>
              ) : (
                <button onClick={() => setAsking(v.name)} disabled={building !== null}>Rebuild</button>
              )
            }
          >
            <div class="facts">
              <span>version <strong>{v.version}</strong></span>
              <span>serving generation <strong>{v.active ? v.active.generation : "none"}</strong></span>
              <span>offset <strong>{formatCount(v.active?.offset)}</strong> of head <strong>{formatCount(v.head)}</strong></span>
              <span>lag <strong class="lag">{formatCount(v.lag)}</strong></span>
              <span>parked <strong class={v.parked ? "bad" : ""}>{formatCount(v.parked)}</strong></span>
            </div>
            {v.lastError ? <div class="error">{v.lastError}</div> : null}
            {percent !== undefined ? (
              <div class="rebuild">
                <span class="small">{building ? `rebuilding generation ${building.generation}` : `generation ${v.active?.generation ?? "?"} built`}</span>
                <ProgressBar percent={percent} label={`rebuild of ${v.name}`} />
              </div>
            ) : null}
            <Parked view={v.name} />
          </Section>
        );
      })}
    </div>
  );
}
