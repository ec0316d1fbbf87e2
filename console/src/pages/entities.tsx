import { useEffect, useState } from "preact/hooks";
import { usePoll } from "../api.ts";
import { formatTime, workflowOfKey } from "../lib/format.ts";
import { Link, navigate, seg } from "../router.tsx";
import type { Definitions, IdempotencyKey, StoredEvent } from "../types.ts";
import { ErrorBox, Json, Loading, Section } from "../ui.tsx";

const pageSize = 50;

export function Entities({ component, id, search }: { component: string | undefined; id: string | undefined; search: string }) {
  const definitions = usePoll<Definitions>("/definitions", 30_000);
  const [draft, setDraft] = useState({ component: component ?? "", id: id ?? "" });
  useEffect(() => setDraft({ component: component ?? definitions.data?.entities[0]?.name ?? "", id: id ?? "" }), [component, id, definitions.data]);
  const params = new URLSearchParams(search);
  const after = Math.max(0, Number(params.get("after")) || 0);
  const at = Number(params.get("at")) || undefined;
  const base = component && id ? `/entities/${seg(component)}/${seg(id)}` : null;
  const entity = usePoll<Record<string, unknown>>(base, 2_000);
  const events = usePoll<{ events: StoredEvent[] }>(base ? `${base}/events?after=${after}&limit=${pageSize}` : null, 2_000);
  const travel = usePoll<{ seq: number; state: unknown }>(base && at ? `${base}/state?seq=${at}` : null, 60_000);
  const kind = definitions.data?.entities.find((e) => e.name === component)?.kind;
  const keysAfter = params.get("keysAfter") ?? "";
  const keys = usePoll<{ keys: IdempotencyKey[]; next: string | null }>(base ? `${base}/idempotency-keys?limit=${pageSize}&after=${encodeURIComponent(keysAfter)}` : null, 5_000);
  /** This entity's URL with some of its parameters (event page, time travel, key page) changed; undefined removes one. */
  const page = (change: Record<string, string | number | undefined>) => {
    const q = new URLSearchParams();
    const current: Record<string, string | number | undefined> = { after: after || undefined, at, keysAfter: keysAfter || undefined, ...change };
    for (const [key, value] of Object.entries(current)) if (value !== undefined && value !== "" && value !== 0) q.set(key, String(value));
    const text = q.toString();
    return `${base}${text ? `?${text}` : ""}`;
  };
  return (
    <div class="page">
      <h1>Entities</h1>
      <form
        class="filters"
        aria-label="find an entity"
        onSubmit={(e) => {
          e.preventDefault();
          if (draft.component && draft.id) navigate(`/entities/${seg(draft.component)}/${seg(draft.id)}`);
        }}
      >
        <label>
          Component
          <select name="component" value={draft.component} onChange={(e) => setDraft({ ...draft, component: e.currentTarget.value })}>
            {definitions.data?.entities.map((e) => <option key={e.name} value={e.name}>{e.name} ({e.kind})</option>)}
          </select>
        </label>
        <label>
          Id
          <input name="id" value={draft.id} onInput={(e) => setDraft({ ...draft, id: e.currentTarget.value })} placeholder="instance id" required />
        </label>
        <div class="filter-buttons"><button type="submit" class="primary">Open</button></div>
      </form>
      <ErrorBox error={definitions.error} />
      {base ? (
        <>
          <h2>
            {component} <span class="id">{id}</span>
          </h2>
          <ErrorBox error={entity.error} />
          {!entity.data && !entity.error ? <Loading what="the entity" /> : null}
          <div class="columns">
            {kind === "entity" && entity.data && "state" in entity.data ? (
              <Section title={`Current state (after event ${String(entity.data.seq)})`}>
                <Json value={entity.data.state} />
              </Section>
            ) : null}
            <Section title={kind === "key-value" ? "Current record" : "Latest snapshot and events since"}>
              {entity.data ? <Json value={kind === "entity" ? { ...entity.data, state: undefined } : entity.data} /> : null}
            </Section>
            {at ? (
              <Section title={`State after event ${at}`} actions={<Link href={page({ at: undefined })}>close</Link>}>
                <ErrorBox error={travel.error} />
                {travel.data ? <Json value={travel.data.state} /> : <Loading what="the state" />}
              </Section>
            ) : null}
          </div>
          {kind === "entity" ? (
            <Section title="Events">
              <ErrorBox error={events.error} />
              <table class="events">
                <thead>
                  <tr><th class="num">Seq</th><th class="num">Position</th><th>At</th><th>Type</th><th>Payload</th><th>Time travel</th></tr>
                </thead>
                <tbody>
                  {events.data?.events.map((e) => (
                    <tr key={e.seq} class={e.seq === at ? "selected" : ""}>
                      <td class="num">{e.seq}</td>
                      <td class="num">{e.position}</td>
                      <td class="small">{formatTime(e.at, true)}</td>
                      <td>{e.type}</td>
                      <td><Json value={e.payload} max={120} /></td>
                      <td><Link href={page({ at: e.seq })}>state after</Link></td>
                    </tr>
                  ))}
                  {events.data?.events.length === 0 ? <tr><td colSpan={6} class="muted">no events here</td></tr> : null}
                </tbody>
              </table>
              <nav class="pager" aria-label="event pages">
                {after > 0 ? <Link href={page({ after: Math.max(0, after - pageSize) })}>« Earlier</Link> : null}
                {events.data?.events.length === pageSize ? <Link href={page({ after: events.data.events.at(-1)!.seq })}>Later »</Link> : null}
              </nav>
            </Section>
          ) : null}
          <Section title="Idempotency keys" actions={<span class="small muted">a repeat of a command with one of these keys gets the reply kept here</span>}>
            <ErrorBox error={keys.error} />
            {!keys.data && !keys.error ? <Loading what="the keys" /> : null}
            {keys.data ? (
              <table class="idempotency-keys">
                <thead>
                  <tr><th>Key</th><th>Written</th><th>Outcome</th><th>Reply kept</th></tr>
                </thead>
                <tbody>
                  {keys.data.keys.map((k) => (
                    <tr key={k.key} data-key={k.key}>
                      <td class="dedup-key">
                        <KeyOwner dedupKey={k.key} workflows={definitions.data?.workflows.map((w) => w.name) ?? []} />
                      </td>
                      <td class="small">{formatTime(k.at, true)}</td>
                      <td class={k.reply.ok ? "" : "bad"}>{k.reply.ok ? "ok" : k.reply.code}</td>
                      <td><Json value={k.reply.ok ? k.reply.value : k.reply.message} max={120} /></td>
                    </tr>
                  ))}
                  {keys.data.keys.length === 0 ? <tr><td colSpan={4} class="muted">{keysAfter ? "no more keys" : "this instance holds no idempotency keys"}</td></tr> : null}
                </tbody>
              </table>
            ) : null}
            <nav class="pager" aria-label="key pages">
              {keysAfter ? <Link href={page({ keysAfter: undefined })}>« First keys</Link> : null}
              {keys.data?.next ? <Link href={page({ keysAfter: keys.data.next })}>Next keys »</Link> : null}
            </nav>
          </Section>
        </>
      ) : null}
    </div>
  );
}

/** An idempotency key, linked to the workflow whose step sent it (when it is one). */
function KeyOwner({ dedupKey, workflows }: { dedupKey: string; workflows: readonly string[] }) {
  const owner = workflowOfKey(dedupKey, workflows);
  if (!owner) return <>{dedupKey}</>;
  return (
    <Link href={`/workflows/${seg(owner.name)}/${seg(owner.id)}`} title={`sent by a step of ${owner.name} “${owner.id}”`}>
      {dedupKey}
    </Link>
  );
}
