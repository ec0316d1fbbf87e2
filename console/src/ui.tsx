/** Small building blocks shared by the pages. */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "./api.ts";
import { fitLabel, formatJson } from "./lib/format.ts";

/** An admin API error as a message (never a blank page). */
export function ErrorBox({ error }: { error: ApiError | undefined }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      <strong>{error.code}</strong>
      {error.status > 0 ? ` (HTTP ${error.status})` : ""}: {error.message}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <p class="muted">Loading {what}…</p>;
}

export function Status({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}

export function Json({ value, max }: { value: unknown; max?: number }) {
  const text = formatJson(value, max ?? Infinity, max === undefined ? 2 : 0);
  return max === undefined ? <pre class="json">{text}</pre> : <code class="json-inline">{text}</code>;
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren; id?: string }) {
  return (
    <section class="card" id={props.id} aria-label={props.title}>
      <header class="card-head">
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

/** What an action's answer means to the operator: `ok` false shows it as a failure. */
export interface ActionResult {
  ok: boolean;
  text: string;
}

/**
 * A button that asks first: the first press shows what will happen and Confirm / Back (focus on
 * Confirm, Escape goes back); Confirm calls the admin API and shows its answer or its error.
 * `describe` words the answer (default: "done" and the reply); `onResult` takes the result
 * instead of the button showing it (the page keeps it when the button goes away); `waiting` says
 * what a slow answer waits for.
 */
export function ActionButton(props: {
  label: string;
  question: string;
  method?: string;
  path: string;
  body?: unknown;
  onDone?: () => void;
  danger?: boolean;
  describe?: (reply: unknown) => ActionResult;
  onResult?: (result: ActionResult | undefined) => void;
  waiting?: string;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ActionResult | undefined>();
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);
  const show = (r: ActionResult | undefined) => (props.onResult ? props.onResult(r) : setResult(r));
  const run = async () => {
    setBusy(true);
    try {
      const reply = await api<unknown>(props.path, { method: props.method ?? "POST", ...(props.body === undefined ? {} : { body: props.body }) });
      show(props.describe?.(reply) ?? { ok: true, text: `${props.label}: done ${formatJson(reply, 200)}` });
      props.onDone?.();
    } catch (e) {
      show({ ok: false, text: e instanceof ApiError ? `${props.label} refused: ${e.code}: ${e.message}` : String(e) });
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  return (
    <span class="action">
      {asking ? (
        <span class="confirm" role="group" aria-label={`confirm ${props.label}`} onKeyDown={(e) => e.key === "Escape" && setAsking(false)}>
          <span>{props.question}</span>
          <button ref={confirm} class={props.danger ? "danger" : "primary"} disabled={busy} onClick={() => void run()}>
            Confirm {props.label}
          </button>
          <button disabled={busy} onClick={() => setAsking(false)}>Back</button>
          {busy ? <span class="small muted" role="status">{props.waiting ?? "waiting for the answer…"}</span> : null}
        </span>
      ) : (
        <button class={props.danger ? "danger-outline" : ""} onClick={() => { show(undefined); setAsking(true); }}>
          {props.label}
        </button>
      )}
      {result ? (
        <span class={result.ok ? "result ok" : "result fail"} role="status">
          {result.text}
        </span>
      ) : null}
    </span>
  );
}

/** A small line chart of recent samples (lag over time). */
export function Sparkline({ samples, label, format = String }: { samples: ReadonlyArray<{ at: number; value: number }>; label: string; format?: (n: number) => string }) {
  const w = 220;
  const h = 44;
  if (samples.length < 2) return <span class="muted small">collecting…</span>;
  const max = Math.max(1, ...samples.map((s) => s.value));
  const t0 = samples[0]!.at;
  const span = Math.max(1, samples.at(-1)!.at - t0);
  const points = samples.map((s) => `${(((s.at - t0) / span) * (w - 4) + 2).toFixed(1)},${(h - 2 - (s.value / max) * (h - 6)).toFixed(1)}`).join(" ");
  return (
    <svg class="sparkline" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${label}: now ${format(samples.at(-1)!.value)}, max ${format(max)}`} data-now={samples.at(-1)!.value}>
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
      <text x={w - 2} y={10} text-anchor="end" class="spark-label">
        max {format(max)}
      </text>
    </svg>
  );
}

export function ProgressBar({ percent, label }: { percent: number; label: string }) {
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
      <div class="progress-fill" style={{ width: `${percent}%` }} />
      <span class="progress-text">{percent}%</span>
    </div>
  );
}

let measuring: CanvasRenderingContext2D | null | undefined;

/** `text`'s width in px at `fontPx`, bold (as the graphs draw a taken step), in the page's font. */
function boldTextWidth(text: string, fontPx: number): number {
  measuring ??= document.createElement("canvas").getContext("2d");
  if (!measuring) return Array.from(text).length * fontPx * 0.7;
  measuring.font = `600 ${fontPx}px ${getComputedStyle(document.body).fontFamily}`;
  return measuring.measureText(text).width;
}

/** An SVG label centred at `x`, cut to `width` (see fitLabel); the whole text shows on hover when cut. */
export function SvgLabel({ x, y, width, fontPx, text, class: className }: { x: number; y: number; width: number; fontPx: number; text: string; class?: string }) {
  const shown = fitLabel(text, width, (t) => boldTextWidth(t, fontPx));
  return (
    <text x={x} y={y} text-anchor="middle" class={className}>
      {shown === text ? null : <title>{text}</title>}
      {shown}
    </text>
  );
}
