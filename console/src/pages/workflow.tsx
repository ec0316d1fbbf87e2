import { usePoll } from "../api.ts";
import { changedFields, formatDuration, formatTime } from "../lib/format.ts";
import { layoutGraph, visitedSteps, type GraphLayout } from "../lib/graph-layout.ts";
import { Link, seg } from "../router.tsx";
import type { Definitions, WorkflowDetail, WorkflowStateAt } from "../types.ts";
import { useState } from "preact/hooks";
import { ActionButton, ErrorBox, Json, Loading, Section, Status, SvgLabel, type ActionResult } from "../ui.tsx";
import { Journal } from "./workflow-journal.tsx";

/** What each operator action asks first: what it does and leaves. */
const questions: Record<string, string> = {
  suspend: "it stops moving on (after the step attempt in progress) until resumed",
  resume: "it moves on from where it stands",
  retry: "its step runs again (calls already answered are not repeated)",
  cancel: "it goes to its cancel step, stopping a step attempt in progress (a saga compensates what it did, and waits for a step that nothing undoes)",
  terminate: "it stops for good as it stands: nothing is undone (money moved stays moved)",
};

/** An accepted action's answer ({ status, step }), in words: accepted is not yet succeeded. */
function describeAction(action: string) {
  return (reply: unknown): ActionResult => {
    const { status, step } = (reply ?? {}) as { status?: string; step?: string | null };
    const watch = status === "running" ? "; watch its status above: the step may fail again" : "";
    return { ok: true, text: `${action} accepted: now ${status ?? "?"} at step ${step ?? "–"}${watch}` };
  };
}

const waitingForAttempt = "waiting for the step attempt in progress to finish (at most its timeout): the action applies after it…";

/** The step graph as an SVG picture: taken path highlighted, the current step marked. */
export function StepGraph({ layout, title }: { layout: GraphLayout; title: string }) {
  return (
    <svg class="graph" width={layout.width} height={layout.height} viewBox={`0 0 ${layout.width} ${layout.height}`} role="img" aria-label={title}>
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
        </marker>
        <marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrow-head taken" />
        </marker>
      </defs>
      {layout.edges.map((e) => (
        <path key={`${e.from}>${e.to}`} d={e.d} class={`edge${e.taken ? " taken" : ""}${e.dashed ? " dashed" : ""}`} marker-end={e.taken ? "url(#arrow-taken)" : "url(#arrow)"} data-from={e.from} data-to={e.to} />
      ))}
      {layout.nodes.map((n) => (
        <g key={n.id} class={`node ${n.kind}${n.taken ? " taken" : ""}${n.failed ? " failed" : ""}${n.undoneByHand ? " undone-by-hand" : ""}${n.current ? " current" : ""}`} data-node={n.id} data-taken={String(n.taken)} data-current={String(n.current)} data-failed={String(n.failed === true)}>
          <rect x={n.x} y={n.y} width={n.w} height={n.h} rx={n.kind === "terminal" ? n.h / 2 : 6} />
          <SvgLabel x={n.x + n.w / 2} y={n.y + n.h / 2 + 4} width={n.w - 12} fontPx={13} text={n.label} />
          {n.current ? <circle cx={n.x + n.w - 8} cy={n.y + 8} r={4} class="current-dot" /> : null}
        </g>
      ))}
    </svg>
  );
}

/**
 * The state right after transition `version`, and which fields it changed, read from the admin API's
 * per-version states (the change feed keeps them until retention prunes it).
 */
function StateAt({ path, version }: { path: string; version: number }) {
  // A version's state never changes: read it once in a while, not every second.
  const read = usePoll<{ states: WorkflowStateAt[] }>(`${path}/states?after=${Math.max(0, version - 2)}&limit=2`, 60_000);
  if (read.error) return <ErrorBox error={read.error} />;
  if (!read.data) return <Loading what="the state" />;
  const at = read.data.states.find((s) => s.version === version);
  const before = read.data.states.find((s) => s.version === version - 1);
  if (!at) return <p class="muted" role="status">Not kept: retention has pruned this version from the change feed.</p>;
  const changed = version === 1 ? null : before ? changedFields(before.state, at.state) : undefined;
  return (
    <div class="state-at" data-version={version}>
      <p class="small">
        {at.status} at step <strong>{at.step ?? "–"}</strong>, {formatTime(at.at, true)}
        {changed === null ? " · the state the start made" : changed === undefined ? "" : changed.length === 0 ? " · state unchanged" : ` · changed: ${changed.join(", ")}`}
      </p>
      <Json value={at.state} />
    </div>
  );
}

export function Workflow({ name, id, search }: { name: string; id: string; search: string }) {
  const path = `/workflows/${seg(name)}/${seg(id)}`;
  const selected = Number(new URLSearchParams(search).get("version")) || undefined;
  const detail = usePoll<WorkflowDetail>(path, 1_000);
  const definitions = usePoll<Definitions>("/definitions", 30_000);
  const shape = definitions.data?.workflows.find((w) => w.name === name);
  const w = detail.data?.workflow;
  const history = detail.data?.history ?? [];
  const state = w && typeof w.state === "object" && w.state !== null ? (w.state as { compensated?: unknown }) : undefined;
  const layout =
    shape && w
      ? layoutGraph(shape, {
          visited: visitedSteps(history),
          current: w.step,
          status: w.status,
          compensated: Array.isArray(state?.compensated) ? (state.compensated as string[]) : [],
          undoing: w.undoing ?? null,
        })
      : undefined;
  const over = w?.status === "ended" || w?.status === "terminated";
  const operator = detail.data?.operator;
  const undoneByHand = operator?.undoneByHand ?? null;
  const forward = operator?.forward ?? null;
  // The step whose failure kept part of it: the current one, or the one a saga's compensations stopped at.
  const partialStep = w?.lastError?.code === "partial_step" ? w.undoing : w?.lastError?.partial ? w.step : null;
  // Kept here, not in the button: the buttons change with the status, and an answer must not go with them.
  const [result, setResult] = useState<ActionResult | undefined>();
  return (
    <div class="page">
      <p class="crumbs">
        <Link href="/workflows">Workflows</Link> › <Link href={`/workflows?name=${encodeURIComponent(name)}`}>{name}</Link> › {id}
      </p>
      <h1>
        {name} <span class="id">{id}</span> {w ? <Status status={w.status} /> : null}
      </h1>
      <ErrorBox error={detail.error} />
      {!w && !detail.error ? <Loading what="the workflow" /> : null}
      {w ? (
        <>
          <div class="facts">
            <span>step <strong>{w.step ?? "–"}</strong></span>
            <span title="attempts of this step that failed so far (ctx.attempt of the next one is this + 1)">failed attempts <strong>{w.attempt}</strong></span>
            <span>created <strong>{formatTime(w.createdAt)}</strong></span>
            <span>updated <strong>{formatTime(w.updatedAt)}</strong></span>
            <span>
              started by <strong>{w.startedBy ? `${w.startedBy.subject ?? "(no subject)"} (${w.startedBy.issuer})` : "no token (in-process or anonymous)"}</strong>
            </span>
            {w.dueAt ? <span>next attempt <strong>{formatTime(w.dueAt)}</strong></span> : null}
            <Link href={`/process-map/${seg(name)}`}>process map of {name}</Link>
          </div>
          {w.lastError ? (
            <div class="error" role="alert">
              last error <strong>{w.lastError.code}</strong>: {w.lastError.message}
              {w.lastError.partial ? <div>Part of step {w.step} took effect before it failed (a call of it was kept): that part is not undone by the failure. “Kept on their own” below lists it.</div> : null}
              {w.lastError.code === "partial_step" ? (
                <div>
                  Undo that part by hand (“Kept on their own” below lists what step {w.undoing ?? "–"} kept), then say so with “retry: {undoneByHand ?? "step"} undone by hand” below: the saga counts the step undone and compensates the rest.
                  {forward ? ` Or finish the step with “retry: finish ${forward} forward”: it runs again where it failed, what it kept is answered from its records, not done again, and the saga goes on.` : ""} A plain retry is refused. Terminate leaves everything as it stands.
                </div>
              ) : null}
            </div>
          ) : null}
          <Section
            title="Operator actions"
            actions={<span class="small muted">each asks for confirmation</span>}
          >
            <div class="actions">
              {(operator?.actions ?? []).map((action) => (
                <ActionButton
                  key={action}
                  label={action}
                  question={`${action} ${name} “${id}”? ${questions[action] ?? ""}`}
                  path={`${path}/${action}`}
                  onDone={detail.reload}
                  danger={action === "terminate" || action === "cancel"}
                  describe={describeAction(action)}
                  onResult={setResult}
                  waiting={waitingForAttempt}
                />
              ))}
              {undoneByHand ? (
                <ActionButton
                  label={`retry: ${undoneByHand} undone by hand`}
                  question={`Did you undo step ${undoneByHand} of ${name} “${id}” by hand? The saga counts it undone without running its compensation, then compensates the steps before it.`}
                  path={`${path}/retry?undoneByHand=${encodeURIComponent(undoneByHand)}`}
                  onDone={detail.reload}
                  describe={describeAction(`retry (${undoneByHand} undone by hand)`)}
                  onResult={setResult}
                  waiting={waitingForAttempt}
                  danger
                />
              ) : null}
              {forward ? (
                <ActionButton
                  label={`retry: finish ${forward} forward`}
                  question={`Finish step ${forward} of ${name} “${id}” forward? It runs again in the execution it failed in: what it kept is answered from its records, not done again; then the saga goes on with the steps after it.`}
                  path={`${path}/retry?forward=true`}
                  onDone={detail.reload}
                  describe={describeAction(`retry (${forward} finished forward)`)}
                  onResult={setResult}
                  waiting={waitingForAttempt}
                  danger
                />
              ) : null}
            </div>
            {result ? (
              <p class={result.ok ? "result ok" : "result fail"} role="status">
                {result.text}
              </p>
            ) : null}
            {over ? <p class="small muted">This workflow is over: no action applies to it.</p> : null}
          </Section>
          <Section title="Step graph">
            <ErrorBox error={definitions.error} />
            {layout ? <div class="graph-wrap"><StepGraph layout={layout} title={`step graph of ${name}`} /></div> : <Loading what="the definition" />}
            <p class="legend small">
              <span class="key taken">path taken</span> <span class="key current">current step</span> <span class="key dashed">on failure</span>
            </p>
          </Section>
          <Journal entries={detail.data?.journal ?? []} full={detail.data?.journalFull === true} definitions={definitions.data} partialStep={partialStep} />
          <div class="columns wide-left">
            <Section title={`Timeline (${history.length} transitions)`}>
              <table class="timeline">
                <thead>
                  <tr><th class="num">#</th><th>At</th><th>Status</th><th>Step</th><th class="num">Exec</th><th class="num">Attempt</th><th>What happened</th><th class="num">Until next</th><th>State</th></tr>
                </thead>
                <tbody>
                  {history.map((t, i) => {
                    const next = history[i + 1];
                    const failed = /failed|error|timed out/i.test(t.detail);
                    return (
                      <tr key={t.version} class={`${failed ? "failed-row" : ""}${t.version === selected ? " selected" : ""}`} data-version={t.version}>
                        <td class="num">{t.version}</td>
                        <td class="small">{formatTime(t.at, true)}</td>
                        <td><Status status={t.status} /></td>
                        <td>{t.step ?? "–"}</td>
                        <td class="num">{t.execId}</td>
                        <td class="num">{t.attempt}</td>
                        <td class="detail">{t.detail}</td>
                        <td class="num small">{next ? formatDuration(next.at - t.at) : over ? "–" : `${formatDuration(Date.now() - t.at)} so far`}</td>
                        <td class="small state-link"><Link href={`${path}?version=${t.version}`} title={`the state right after transition ${t.version}`}>after #{t.version}</Link></td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </Section>
            {selected ? (
              <Section title={`State after transition ${selected}`} actions={<Link href={path}>current state</Link>}>
                <StateAt path={path} version={selected} />
              </Section>
            ) : (
              <Section title={`State (version ${w.version})`} actions={<span class="small muted">“after #n” in the timeline shows it at each transition</span>}>
                <Json value={w.state} />
              </Section>
            )}
          </div>
        </>
      ) : null}
    </div>
  );
}
