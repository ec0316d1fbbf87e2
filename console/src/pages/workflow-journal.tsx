import { formatTime } from "../lib/format.ts";
import { Link, seg } from "../router.tsx";
import type { Definitions, JournalEntry } from "../types.ts";
import { Json, Section } from "../ui.tsx";

/** Where a call's target lives in the console: a workflow's page, or an entity's. */
function targetHref(definitions: Definitions | undefined, component: string, id: string): string {
  const isWorkflow = definitions?.workflows.some((w) => w.name === component) === true;
  return `/${isWorkflow ? "workflows" : "entities"}/${seg(component)}/${seg(id)}`;
}

type KeptCall = Extract<JournalEntry, { call: unknown }>["call"];

/** A call: its command and input, linked to its target (a workflow's page or an entity's). */
function Call({ call, definitions }: { call: KeptCall; definitions: Definitions | undefined }) {
  const { component, id, command } = call;
  return (
    <span>
      <strong>{command}</strong> {"input" in call ? <Json value={call.input} max={160} /> : <span class="muted">(input of {call.inputBytes} bytes, not kept)</span>} on{" "}
      <Link href={targetHref(definitions, component, id)}>{component} “{id}”</Link>
    </span>
  );
}

/** One entry, in words: the call, the timer change, or the ctx.run result. */
function What({ entry, definitions }: { entry: JournalEntry; definitions: Definitions | undefined }) {
  if ("call" in entry) {
    return (
      <span>
        call <Call call={entry.call} definitions={definitions} />
      </span>
    );
  }
  if ("timer" in entry) {
    const { name, change, dueAt, call } = entry.timer;
    return (
      <span>
        timer <strong>{name}</strong> {change}
        {dueAt !== undefined ? `, due ${formatTime(dueAt)}` : ""}
        {call ? (
          <>
            , to call <Call call={call} definitions={definitions} />
          </>
        ) : null}
      </span>
    );
  }
  if ("run" in entry) {
    return (
      <span>
        ctx.run <strong>{entry.run.name}</strong> returned <Json value={entry.run.result} max={120} />
      </span>
    );
  }
  return <span class="muted">something (marked by an earlier version, which did not say what)</span>;
}

/**
 * What the workflow's step executions made durable on their own, apart from their transitions: a
 * step that failed after these keeps them, and an operator undoing it by hand starts here.
 * `partialExec`: the execution whose failure kept part of it, highlighted.
 */
export function Journal({ entries, full, definitions, partialStep }: { entries: JournalEntry[]; full: boolean; definitions: Definitions | undefined; partialStep: string | null }) {
  if (entries.length === 0) return null;
  return (
    <Section title={`Kept on their own (${entries.length}${full ? "+" : ""})`} actions={<span class="small muted">calls committed apart from their step's transition, timer changes, ctx.run results</span>}>
      <table class="journal">
        <thead>
          <tr><th class="num">Exec</th><th>Step</th><th>At</th><th>What</th><th>Idempotency key</th></tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.key} class={entry.step !== null && entry.step === partialStep ? "partial-row" : ""} data-key={entry.key}>
              <td class="num">{entry.execution}</td>
              <td>{entry.step ?? "–"}</td>
              <td class="small">{formatTime(entry.at, true)}</td>
              <td><What entry={entry} definitions={definitions} /></td>
              <td class="small mono">{entry.key}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {full ? <p class="small muted">The first 200 only: sagaflow workflows show lists the same.</p> : null}
    </Section>
  );
}
