import { setTimeout as sleep } from "node:timers/promises";
import { access, createSagaflow, endpoint, entity, memoryStore, reply, route, service, table, view, type Sagaflow } from "../../src/index.ts";
import { makeDevToken } from "../../src/cli/token-command.ts";
import { approval } from "../fixtures/workflow-waiting/index.ts";

/**
 * A small service served in process on both its ports, for tests of what happens at the HTTP
 * edge: `note/{id}/write` is public, `note/{id}/lock` needs a token, `views/notes/all` streams,
 * `GET /slow` answers after a timer (so its answer is written after the request has been read to
 * its end), `GET /hold` answers once its signal is aborted, `GET /give-up` fails with the abort
 * (an `AbortError`, as `fetch` or a timer given the signal reject), and `approval` is a workflow that
 * stays paused (a long poll on it waits).
 */

const secret = "edges-test-secret-0123456789abcdef";
export const adminToken = "an-admin-token-long-enough";

const note = entity(
  "note",
  { initial: () => ({ text: "" }), events: { written: (_s, e: { text: string }) => ({ text: e.text }) } },
  {
    expose: { write: access.anyone, lock: access.authenticated },
    commands: {
      write: (_s, c: { text: string }, fx) => fx.emit("written", { text: String(c.text) }).reply((s) => s),
      lock: (_s, _c: {}, fx) => fx.reply({ locked: true }),
    },
  },
);
const notes = view("notes", {
  version: 1,
  expose: { all: access.anyone },
  tables: { notes: table(note, { events: { written: (_r, e, { id }) => ({ id, text: e.text }) } }) },
  queries: { all: "SELECT * AS notes FROM notes ORDER BY id" },
});
const api = endpoint("api", [
  route.get("/slow", { access: access.anyone }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    return reply.json({ slow: true });
  }),
  route.get("/hold", { access: access.anyone }, async (_request, { signal }) => {
    await new Promise((aborted) => signal.addEventListener("abort", aborted, { once: true }));
    return { aborted: true };
  }),
  route.get("/give-up", { access: access.anyone }, async (_request, { signal }) => {
    await sleep(60_000, undefined, { signal });
    return { waited: true };
  }),
]);

const edges = service("edges", [note, notes, api, approval], { auth: { issuers: [{ issuer: "tests", algorithms: ["HS256"], secret }] } });

/** A token the service accepts. */
export const validToken = (): Promise<string> => makeDevToken({ secret, issuer: "tests", subject: "ann" });

export interface EdgesApp {
  app: Sagaflow;
  port: number;
  adminPort: number;
  url: string;
  /** What the service logged. */
  logged: string[];
}

/** Starts the service on free ports; its admin API requires `adminToken`. Stop it with `app.stop()`. */
export async function startEdgesApp(): Promise<EdgesApp> {
  const logged: string[] = [];
  const app = createSagaflow(edges, { store: memoryStore(), log: (line) => logged.push(line) });
  const listening = await app.listen({ port: 0, adminToken });
  return { app, port: Number(new URL(listening.url).port), adminPort: Number(new URL(listening.adminUrl!).port), url: listening.url, logged };
}
