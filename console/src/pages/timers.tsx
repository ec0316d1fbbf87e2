import { useState } from "preact/hooks";
import { usePoll } from "../api.ts";
import { formatDuration, formatJson, formatTime } from "../lib/format.ts";
import type { TimerRecord } from "../types.ts";
import { seg } from "../router.tsx";
import { ActionButton, ErrorBox, Loading } from "../ui.tsx";

export function Timers() {
  const [status, setStatus] = useState<"" | "pending" | "parked">("");
  const timers = usePoll<{ timers: TimerRecord[] }>(`/timers?limit=200${status ? `&status=${status}` : ""}`, 1_500);
  const now = Date.now();
  return (
    <div class="page">
      <h1>Timers</h1>
      <form class="filters" aria-label="timer filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as typeof status)} name="status">
            <option value="">all</option>
            <option value="pending">pending</option>
            <option value="parked">parked</option>
          </select>
        </label>
      </form>
      <ErrorBox error={timers.error} />
      {!timers.data && !timers.error ? <Loading what="timers" /> : null}
      {timers.data ? (
        <table>
          <thead>
            <tr><th>Name</th><th>Status</th><th>Due</th><th class="num">Lateness</th><th>Calls</th><th class="num">Attempts</th><th>Last error</th><th>Input</th><th>Actions</th></tr>
          </thead>
          <tbody>
            {timers.data.timers.map((t) => (
              <tr key={t.name}>
                <td>{t.name}</td>
                <td>{t.status}</td>
                <td class="small">{formatTime(t.dueAt)}</td>
                <td class={`num ${now - t.dueAt > 5_000 ? "bad" : ""}`}>{t.dueAt <= now ? formatDuration(now - t.dueAt) : `due in ${formatDuration(t.dueAt - now)}`}</td>
                <td>{t.component}/{t.id}.{t.handler}</td>
                <td class="num">{t.attempts}</td>
                <td class="small bad">{t.lastError ? `${t.lastError.code}: ${t.lastError.message}` : ""}</td>
                <td class="small"><code>{formatJson(t.input, 80)}</code></td>
                <td>
                  {t.status === "parked" ? <ActionButton label="retry" question={`fire ${t.name} again now?`} path={`/timers/${seg(t.name)}/retry`} onDone={timers.reload} /> : null}
                  <ActionButton label="cancel" question={`remove ${t.name} for good?`} path={`/timers/${seg(t.name)}/cancel`} onDone={timers.reload} danger />
                </td>
              </tr>
            ))}
            {timers.data.timers.length === 0 ? <tr><td colSpan={9} class="muted">no timers</td></tr> : null}
          </tbody>
        </table>
      ) : null}
      <p class="small muted">At most 200 timers are listed, earliest due first.</p>
    </div>
  );
}
