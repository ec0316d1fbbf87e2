import { useEffect, useState } from "preact/hooks";
import { usePoll } from "../api.ts";
import { formatAgo, formatJson, formatTime } from "../lib/format.ts";
import { filtersToApiQuery, filtersToQuery, queryToFilters, workflowStatuses, type WorkflowFilters } from "../lib/query.ts";
import { Link, navigate, seg } from "../router.tsx";
import type { Definitions, StoredWorkflow } from "../types.ts";
import { ErrorBox, Loading, Status } from "../ui.tsx";

const pageSize = 50;

const outcomeOf = (w: StoredWorkflow) => (typeof w.state === "object" && w.state !== null ? (w.state as { status?: unknown }).status : undefined);

export function Workflows({ search }: { search: string }) {
  const filters = queryToFilters(search);
  const definitions = usePoll<Definitions>("/definitions", 30_000);
  const list = usePoll<{ workflows: StoredWorkflow[]; next: string | null }>(`/workflows${filtersToApiQuery(filters, pageSize)}`, 2_000);
  const [draft, setDraft] = useState<WorkflowFilters>(filters);
  useEffect(() => setDraft(queryToFilters(search)), [search]);
  const steps = definitions.data?.workflows.find((w) => w.name === draft.name)?.steps ?? [];
  const apply = (e: Event) => {
    e.preventDefault();
    const { after: _after, ...rest } = draft;
    navigate(`/workflows${filtersToQuery(rest)}`);
  };
  const toggle = (status: string) => {
    const now = new Set(draft.status ?? []);
    if (now.has(status)) now.delete(status);
    else now.add(status);
    setDraft({ ...draft, status: [...now] });
  };
  const now = Date.now();
  return (
    <div class="page">
      <h1>Workflows</h1>
      <form class="filters" onSubmit={apply} aria-label="workflow filters">
        <label>
          Workflow
          <select value={draft.name ?? ""} onChange={(e) => setDraft({ ...draft, name: e.currentTarget.value, step: "" })} name="name">
            <option value="">all</option>
            {definitions.data?.workflows.map((w) => <option key={w.name} value={w.name}>{w.name}</option>)}
          </select>
        </label>
        <label>
          Step
          <input name="step" list="step-names" value={draft.step ?? ""} onInput={(e) => setDraft({ ...draft, step: e.currentTarget.value })} placeholder="current step" />
          <datalist id="step-names">{steps.map((s) => <option key={s} value={s} />)}</datalist>
        </label>
        <label>
          Id prefix
          <input name="idPrefix" value={draft.idPrefix ?? ""} onInput={(e) => setDraft({ ...draft, idPrefix: e.currentTarget.value })} placeholder="t-2024" />
        </label>
        <label>
          Outcome
          <input name="outcome" list="outcomes" value={draft.outcome ?? ""} onInput={(e) => setDraft({ ...draft, outcome: e.currentTarget.value })} placeholder="state.status" />
          <datalist id="outcomes">{["completed", "compensated", "rejected", "requires_manual_intervention"].map((s) => <option key={s} value={s} />)}</datalist>
        </label>
        <label>
          Created after
          <input type="datetime-local" name="createdAfter" value={draft.createdAfter ?? ""} onInput={(e) => setDraft({ ...draft, createdAfter: e.currentTarget.value })} />
        </label>
        <label>
          Created before
          <input type="datetime-local" name="createdBefore" value={draft.createdBefore ?? ""} onInput={(e) => setDraft({ ...draft, createdBefore: e.currentTarget.value })} />
        </label>
        <fieldset class="statuses">
          <legend>Status</legend>
          {workflowStatuses.map((s) => (
            <label key={s} class="check">
              <input type="checkbox" checked={draft.status?.includes(s) ?? false} onChange={() => toggle(s)} name={`status-${s}`} /> {s}
            </label>
          ))}
        </fieldset>
        <div class="filter-buttons">
          <button type="submit" class="primary">Apply filters</button>
          <button type="button" onClick={() => navigate("/workflows")}>Clear</button>
        </div>
      </form>
      <ErrorBox error={list.error ?? definitions.error} />
      {!filters.name && (filters.idPrefix || filters.outcome || filters.createdAfter || filters.createdBefore) ? (
        <p class="small muted">Without a workflow chosen these filters look at the first 500 workflows only; choose one to page through all of its instances.</p>
      ) : null}
      {list.data === undefined && !list.error ? <Loading what="workflows" /> : null}
      {list.data ? (
        <>
          <table class="workflows">
            <thead>
              <tr><th>Workflow</th><th>Id</th><th>Status</th><th>Outcome</th><th>Step</th><th class="num">Attempt</th><th>Created</th><th>Updated</th><th>Last error</th></tr>
            </thead>
            <tbody>
              {list.data.workflows.map((w) => (
                <tr key={`${w.name}/${w.id}`}>
                  <td>{w.name}</td>
                  <td><Link href={`/workflows/${seg(w.name)}/${seg(w.id)}`}>{w.id}</Link></td>
                  <td><Status status={w.status} /></td>
                  <td>{formatJson(outcomeOf(w) ?? "–", 30).replace(/^"|"$/g, "")}</td>
                  <td>{w.step ?? "–"}</td>
                  <td class="num">{w.attempt}</td>
                  <td class="small">{formatTime(w.createdAt)}</td>
                  <td class="small" title={formatTime(w.updatedAt, true)}>{formatAgo(w.updatedAt, now)}</td>
                  <td class="small bad">{w.lastError ? `${w.lastError.code}: ${w.lastError.message}` : ""}</td>
                </tr>
              ))}
              {list.data.workflows.length === 0 ? <tr><td colSpan={9} class="muted">no workflows match</td></tr> : null}
            </tbody>
          </table>
          <nav class="pager" aria-label="pages">
            {filters.after ? <Link href={`/workflows${filtersToQuery({ ...filters, after: "" })}`}>« First page</Link> : null}
            {list.data.next ? <Link href={`/workflows${filtersToQuery({ ...filters, after: list.data.next })}`}>Next page »</Link> : null}
            <span class="muted small">{list.data.workflows.length} shown{filters.after ? ` after “${filters.after}”` : ""}</span>
          </nav>
        </>
      ) : null}
    </div>
  );
}
