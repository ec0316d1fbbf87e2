import { usePoll } from "../api.ts";
import { formatCount, formatDuration, formatTime } from "../lib/format.ts";
import { filtersToQuery, mapWindows } from "../lib/query.ts";
import { Link, navigate, seg } from "../router.tsx";
import type { Definitions, ProcessMap as Map } from "../types.ts";
import { ErrorBox, Loading, Section, SvgLabel } from "../ui.tsx";

const W = 150;
const H = 62;
const GAP = 70;

/** Steps in a row (declared order, then the ends), transitions as arcs labelled with their counts. */
function MapPicture({ map, name }: { map: Map; name: string }) {
  const ends = [...new Set(map.edges.map((e) => e.to).filter((t) => t.startsWith("$")))];
  const ids = ["$start", ...map.steps.map((s) => s.step), ...ends];
  const x = (id: string) => 8 + ids.indexOf(id) * (W + GAP);
  const y = 70;
  const width = 8 + ids.length * (W + GAP);
  const maxCount = Math.max(1, ...map.edges.map((e) => e.count));
  return (
    <svg class="graph map" width={width} height={y + H + 80} viewBox={`0 0 ${width} ${y + H + 80}`} role="img" aria-label={`process map of ${name}`}>
      <defs>
        <marker id="map-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrow-head taken" />
        </marker>
      </defs>
      {map.edges.map((e) => {
        const a = ids.indexOf(e.from);
        const b = ids.indexOf(e.to);
        if (a < 0 || b < 0) return null;
        const forward = b > a;
        const x1 = x(e.from) + (forward ? W : 0);
        const x2 = x(e.to) + (forward ? 0 : W);
        const near = Math.abs(b - a) === 1 && forward;
        const bend = near ? 0 : forward ? -40 - 10 * (b - a) : 40 + 10 * (a - b);
        const cy = y + H / 2 + bend;
        const d = near ? `M${x1},${y + H / 2} L${x2},${y + H / 2}` : `M${x1},${y + (forward ? 0 : H)} Q${(x1 + x2) / 2},${cy} ${x2},${y + (forward ? 0 : H)}`;
        return (
          <g key={`${e.from}>${e.to}`} class="map-edge" data-from={e.from} data-to={e.to} data-count={e.count}>
            <path d={d} class="edge taken" marker-end="url(#map-arrow)" style={{ strokeWidth: `${1 + (3 * e.count) / maxCount}px` }} />
            <text x={(x1 + x2) / 2} y={near ? y + H / 2 - 6 : cy + (forward ? 16 : -4)} text-anchor="middle" class="edge-count">{e.count}</text>
          </g>
        );
      })}
      {ids.map((id) => {
        const step = map.steps.find((s) => s.step === id);
        return (
          <g key={id} class={`node ${step ? "step taken" : "terminal"}`} data-node={id}>
            <rect x={x(id)} y={step ? y : y + 12} width={W} height={step ? H : H - 24} rx={step ? 6 : (H - 24) / 2} />
            <SvgLabel x={x(id) + W / 2} y={y + (step ? 18 : H / 2 + 4)} width={W - 12} fontPx={13} text={id.replace(/^\$/, "")} class="node-title" />
            {step ? (
              <>
                <SvgLabel x={x(id) + W / 2} y={y + 36} width={W - 12} fontPx={11} text={`${formatCount(step.passed)} passed · ${formatCount(step.now)} now`} class="small-text" />
                <SvgLabel x={x(id) + W / 2} y={y + 52} width={W - 12} fontPx={11} text={`p50 ${formatDuration(step.medianMs)} · p99 ${formatDuration(step.p99Ms)}`} class="small-text" />
              </>
            ) : null}
          </g>
        );
      })}
    </svg>
  );
}

export function ProcessMapPage({ name, search }: { name: string | undefined; search: string }) {
  const definitions = usePoll<Definitions>("/definitions", 30_000);
  const params = new URLSearchParams(search);
  const windowKey = params.get("window") && mapWindows[params.get("window")!] ? params.get("window")! : "1h";
  const chosen = name ?? definitions.data?.workflows[0]?.name;
  // The window's end moves with each poll, so the map stays live.
  const map = usePoll<Map>(chosen ? `/process-map/${seg(chosen)}?windowMs=${mapWindows[windowKey]}` : null, 2_000);
  return (
    <div class="page">
      <h1>Process map</h1>
      <form class="filters" aria-label="process map settings" onSubmit={(e) => e.preventDefault()}>
        <label>
          Workflow
          <select value={chosen ?? ""} onChange={(e) => navigate(`/process-map/${seg(e.currentTarget.value)}?window=${windowKey}`)}>
            {definitions.data?.workflows.map((w) => <option key={w.name} value={w.name}>{w.name}</option>)}
          </select>
        </label>
        <label>
          Window (the last)
          <select value={windowKey} onChange={(e) => chosen && navigate(`/process-map/${seg(chosen)}?window=${e.currentTarget.value}`)} name="window">
            {Object.keys(mapWindows).map((k) => <option key={k} value={k}>{k}</option>)}
          </select>
        </label>
      </form>
      <ErrorBox error={map.error ?? definitions.error} />
      {chosen && !map.data && !map.error ? <Loading what="the process map" /> : null}
      {definitions.data && definitions.data.workflows.length === 0 ? <p class="muted">This service declares no workflows.</p> : null}
      {map.data && chosen ? (
        <>
          <p class="small muted">
            {formatTime(map.data.since)} to {formatTime(map.data.until)} · {map.data.instances} instances
            {map.data.truncated ? <strong class="bad"> · only the first {map.data.instances} instances by id are counted</strong> : null}
          </p>
          <Section title="Map">
            <div class="graph-wrap"><MapPicture map={map.data} name={chosen} /></div>
          </Section>
          <div class="columns">
            <Section title="Steps">
              <table class="map-steps">
                <thead>
                  <tr><th>Step</th><th class="num">Passed</th><th class="num">There now</th><th class="num">Median</th><th class="num">p99</th></tr>
                </thead>
                <tbody>
                  {map.data.steps.map((s) => (
                    <tr key={s.step} data-step={s.step}>
                      <td>
                        <Link href={`/workflows${filtersToQuery({ name: chosen, step: s.step, status: ["running", "paused", "suspended", "failed"] })}`} title={`instances now in ${s.step}`}>{s.step}</Link>
                      </td>
                      <td class="num passed">{formatCount(s.passed)}</td>
                      <td class="num now">{formatCount(s.now)}</td>
                      <td class="num">{formatDuration(s.medianMs)}</td>
                      <td class="num">{formatDuration(s.p99Ms)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p class="small muted">Click a step to list the instances in it now.</p>
            </Section>
            <Section title="Transitions">
              <table class="map-edges">
                <thead>
                  <tr><th>From</th><th>To</th><th class="num">Count</th></tr>
                </thead>
                <tbody>
                  {map.data.edges.map((e) => (
                    <tr key={`${e.from}>${e.to}`}>
                      <td>{e.from}</td>
                      <td>{e.to}</td>
                      <td class="num">{e.count}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Section>
          </div>
        </>
      ) : null}
    </div>
  );
}
