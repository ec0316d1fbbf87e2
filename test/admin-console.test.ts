import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import consoleFixture from "./fixtures/console/index.ts";
import { serve, type RunningService } from "../src/cli/serve.ts";
import { ensureConsoleBuilt } from "./support/browser.ts";
import { sleep } from "./support/server-process.ts";

/** The admin routes the web console reads (issue 15), and the console served by the admin server. */
describe("admin API for the console", () => {
  let running: RunningService;
  let dir: string;
  before(async () => {
    ensureConsoleBuilt();
    dir = mkdtempSync(join(tmpdir(), "sagaflow-admin-console-"));
    running = await serve({ service: consoleFixture, port: 0, dataDir: dir, log: () => {} });
    const post = (path: string, body: unknown) => fetch(`${running.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    await post("/wallet/a/create", { initialBalance: 100 });
    await post("/wallet/b/create", { initialBalance: 0 });
    for (const id of ["ok-1", "ok-2", "ok-3"]) await post(`/transfer/${id}/start`, { from: "a", to: "b", amount: 1 });
    for (const id of ["comp-1", "comp-2"]) await post(`/transfer/${id}/start`, { from: "a", to: "missing", amount: 1 });
    for (let i = 0; i < 200; i++) {
      if ((await admin("/workflows?name=transfer&status=ended")).body.workflows.length === 5) break;
      await sleep(50);
    }
  });
  after(async () => {
    await running.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const admin = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${running.adminUrl}${path}`, { headers });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: (res.headers.get("content-type")?.startsWith("application/json") ? JSON.parse(text) : undefined) };
  };

  it("describes-workflows-with-a-sagas-compensations-and-entities", async () => {
    const { status, body } = await admin("/definitions");
    assert.equal(status, 200);
    const transfer = body.workflows.find((w: any) => w.name === "transfer");
    assert.deepEqual(transfer.steps, ["withdraw", "deposit", "compensate"]);
    assert.deepEqual(transfer.saga, { steps: [{ name: "withdraw", compensable: true }, { name: "deposit", compensable: false }], compensationStep: "compensate" });
    assert.equal(transfer.failoverTo.withdraw, "compensate");
    assert.equal(body.workflows.find((w: any) => w.name === "flaky").saga, null);
    assert.deepEqual(body.entities.map((e: any) => e.name).sort(), ["bell", "note", "wallet"]);
  });

  it("filters-workflows-by-outcome-id-prefix-and-time-and-pages-with-next", async () => {
    const compensated = await admin("/workflows?name=transfer&outcome=compensated");
    assert.deepEqual(compensated.body.workflows.map((w: any) => w.id), ["comp-1", "comp-2"]);
    assert.deepEqual((await admin("/workflows?name=transfer&idPrefix=ok-")).body.workflows.map((w: any) => w.id), ["ok-1", "ok-2", "ok-3"]);
    assert.deepEqual((await admin("/workflows?name=transfer&idPrefix=ok-2")).body.workflows.map((w: any) => w.id), ["ok-2"]);
    // The id equal to the prefix fills a page of one by itself.
    const one = await admin("/workflows?name=transfer&idPrefix=ok-1&limit=1");
    assert.deepEqual([one.body.workflows.map((w: any) => w.id), one.body.next], [["ok-1"], "ok-1"]);
    assert.equal((await admin(`/workflows?name=transfer&createdAfter=${Date.now() + 60_000}`)).body.workflows.length, 0);
    const first = await admin("/workflows?name=transfer&limit=2");
    assert.deepEqual(first.body.workflows.map((w: any) => w.id), ["comp-1", "comp-2"]);
    assert.equal(first.body.next, "comp-2");
    const second = await admin(`/workflows?name=transfer&limit=2&after=${first.body.next}`);
    assert.deepEqual(second.body.workflows.map((w: any) => w.id), ["ok-1", "ok-2"]);
    const page = await admin("/workflows?name=transfer&idPrefix=ok-&limit=2");
    assert.deepEqual(page.body.workflows.map((w: any) => w.id), ["ok-1", "ok-2"]);
    assert.deepEqual((await admin(`/workflows?name=transfer&idPrefix=ok-&limit=2&after=${page.body.next}`)).body.workflows.map((w: any) => w.id), ["ok-3"]);
    // Without a name the list is ordered by name first: a flaky "zz" (before transfer) ends no search for "ok-".
    await fetch(`${running.url}/flaky/zz/start`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ label: "zz" }) });
    assert.deepEqual((await admin("/workflows?idPrefix=ok-")).body.workflows.map((w: any) => `${w.name}/${w.id}`), ["transfer/ok-1", "transfer/ok-2", "transfer/ok-3"]);
    assert.deepEqual((await admin("/workflows?idPrefix=zz")).body.workflows.map((w: any) => `${w.name}/${w.id}`), ["flaky/zz"]);
    assert.equal((await admin("/workflows?createdAfter=yesterday")).body.error.code, "invalid_time");
    assert.equal((await admin("/workflows?after=x")).status, 400);

    // Without a name, pages go on across names: `next` is {name}/{id}, and every workflow is seen once.
    const everyOne = (await admin("/workflows?limit=100")).body.workflows.map((w: any) => `${w.name}/${w.id}`);
    const paged: string[] = [];
    let next: string | null = null;
    do {
      const reply = await admin(`/workflows?limit=2${next === null ? "" : `&after=${encodeURIComponent(next)}`}`);
      paged.push(...reply.body.workflows.map((w: any) => `${w.name}/${w.id}`));
      next = reply.body.next;
      assert.ok(next === null || next === paged.at(-1), `next ${next} names the page's last workflow`);
    } while (next !== null);
    assert.deepEqual(paged, everyOne);
    assert.ok(everyOne.includes("flaky/zz") && everyOne.includes("transfer/ok-3"));
    // With a filter the store does not have, too.
    const prefixed: string[] = [];
    next = null;
    do {
      const reply = await admin(`/workflows?idPrefix=o&limit=1${next === null ? "" : `&after=${encodeURIComponent(next)}`}`);
      prefixed.push(...reply.body.workflows.map((w: any) => w.id));
      next = reply.body.next;
    } while (next !== null);
    assert.deepEqual(prefixed, ["ok-1", "ok-2", "ok-3"]);
  });

  it("maps-a-workflows-steps-and-transitions-over-a-window", async () => {
    const { status, body } = await admin("/process-map/transfer?windowMs=3600000");
    assert.equal(status, 200);
    assert.equal(body.instances, 5);
    assert.deepEqual(body.steps.map((s: any) => [s.step, s.passed, s.now]), [["withdraw", 5, 0], ["deposit", 5, 0], ["compensate", 2, 0]]);
    const edges = Object.fromEntries(body.edges.map((e: any) => [`${e.from}>${e.to}`, e.count]));
    assert.deepEqual(edges, { "$start>withdraw": 5, "withdraw>deposit": 5, "deposit>$ended": 3, "deposit>compensate": 2, "compensate>$ended": 2 });
    assert.ok(body.steps[0].medianMs >= 0 && body.steps[0].p99Ms >= body.steps[0].medianMs);
    const old = await admin(`/process-map/transfer?since=0&until=1000`);
    assert.equal(old.body.instances, 0);
    assert.equal((await admin("/process-map/nothing")).status, 404);
    assert.equal((await admin("/process-map/transfer?since=10&until=5")).body.error.code, "invalid_time");
  });

  it("folds-an-entitys-state-after-any-event", async () => {
    const after1 = await admin("/entities/wallet/a/state?seq=1");
    assert.equal(after1.status, 200);
    assert.equal(after1.body.state.balance, 100);
    const events = (await admin("/entities/wallet/a/events")).body.events;
    const last = await admin(`/entities/wallet/a/state?seq=${events.length}`);
    assert.equal(last.body.state.balance, 100 - 5 + 2, "five withdrawals, two refunds");
    assert.equal((await admin(`/entities/wallet/a/state?seq=${events.length + 1}`)).status, 404);
    assert.equal((await admin("/entities/wallet/a/state?seq=0")).body.error.code, "invalid_input");
    assert.equal((await admin("/entities/wallet/a/state")).body.error.code, "invalid_input");
  });

  it("lists-an-entitys-idempotency-keys-a-page-at-a-time", async () => {
    for (const key of ["console-k3", "console-k2", "console-k1"]) {
      const res = await fetch(`${running.url}/wallet/b/deposit`, { method: "POST", headers: { "content-type": "application/json", "idempotency-key": key }, body: JSON.stringify({ amount: 1 }) });
      assert.equal(res.status, 200);
    }
    const all = await admin("/entities/wallet/b/idempotency-keys");
    assert.equal(all.status, 200);
    const mine = all.body.keys.filter((k: any) => k.key.startsWith("console-"));
    assert.deepEqual(mine.map((k: any) => k.key), ["console-k1", "console-k2", "console-k3"], "ordered by key");
    assert.equal(mine[0].reply.ok, true);
    assert.equal(typeof mine[0].reply.value.balance, "number");
    assert.ok(mine.every((k: any) => typeof k.at === "number" && !("requestHash" in k)));
    // (The transfers' deposits keep none: each committed with its step's transition.) Page
    // through them one at a time.
    assert.equal(all.body.next, null);
    const paged: string[] = [];
    let after = "";
    for (;;) {
      const page = await admin(`/entities/wallet/b/idempotency-keys?limit=1&after=${encodeURIComponent(after)}`);
      paged.push(...page.body.keys.map((k: any) => k.key));
      if (page.body.next === null) break;
      after = page.body.next;
    }
    assert.deepEqual(paged, all.body.keys.map((k: any) => k.key));
    assert.deepEqual((await admin("/entities/wallet/nobody/idempotency-keys")).body.keys, []);
    assert.equal((await admin("/entities/nothing/x/idempotency-keys")).status, 404);
    assert.equal((await admin("/entities/wallet/b/idempotency-keys?limit=0")).body.error.code, "invalid_limit");
  });

  it("reads-a-workflows-state-at-each-transition", async () => {
    const { body: detail } = await admin("/workflows/transfer/comp-1");
    const states = await admin("/workflows/transfer/comp-1/states");
    assert.equal(states.status, 200);
    assert.deepEqual(states.body.states.map((s: any) => [s.version, s.status, s.step]), detail.history.map((h: any) => [h.version, h.status, h.step]));
    assert.deepEqual(states.body.states.at(-1).state, detail.workflow.state, "the last is the current state");
    assert.deepEqual(states.body.states[0].state.amount, 1, "the first is the state the start left");
    assert.notDeepEqual(states.body.states[0].state, detail.workflow.state, "which the saga changed since");
    assert.equal(states.body.next, null);
    const page = await admin("/workflows/transfer/comp-1/states?after=1&limit=1");
    assert.deepEqual(page.body.states.map((s: any) => s.version), [2]);
    assert.equal(page.body.next, 2);
    assert.equal((await admin("/workflows/transfer/nobody/states")).status, 404);
    assert.equal((await admin("/workflows/wallet/a/states")).status, 404, "not a workflow");
    // A misspelt name is told apart from an id that is not there.
    assert.equal((await admin("/workflows/transfer/nobody")).body.error.message, 'no workflow transfer "nobody"');
    assert.match((await admin("/workflows/transfr/comp-1")).body.error.message, /this service has no workflow named "transfr" \(its workflows: [a-z, -]*transfer/);
    assert.equal((await admin("/workflows/transfer/comp-1/states?after=-1")).body.error.code, "invalid_input");
  });

  it("keeps-a-consumers-lag-history-and-the-command-and-commit-rates", async () => {
    const lag = await admin("/consumers/note-reader/lag");
    assert.equal(lag.status, 200);
    assert.equal(lag.body.everyMs, 5_000);
    // The sample taken at start, then the lag now.
    assert.ok(lag.body.samples.length >= 2, JSON.stringify(lag.body));
    const now = (await admin("/consumers")).body.consumers.find((c: any) => c.name === "note-reader").lag;
    assert.equal(lag.body.samples.at(-1).lag, now);
    assert.ok(lag.body.samples[0].at <= lag.body.samples.at(-1).at);
    assert.equal((await admin("/consumers/nobody/lag")).status, 404);

    const before = (await admin("/rates")).body;
    for (let i = 0; i < 3; i++) await fetch(`${running.url}/wallet/a/deposit`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ amount: 1 }) });
    const rates = await admin("/rates");
    assert.equal(rates.status, 200);
    assert.ok(rates.body.totals.commands >= before.totals.commands + 3, "three more commands counted");
    assert.ok(rates.body.totals.commits >= before.totals.commits + 3, "each deposit committed");
    assert.ok(rates.body.now.commandsPerSecond > 0);
    assert.ok(Array.isArray(rates.body.samples));
    assert.equal((await fetch(`${running.adminUrl}/rates`, { method: "POST" })).status, 405);
  });

  it("serves-the-console-at-deep-links-to-browsers-and-json-to-clients", async () => {
    const page = await admin("/workflows/transfer/ok-1", { accept: "text/html,application/xhtml+xml" });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /^text\/html/);
    assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
    assert.match(page.text, /\/console\/app\.js/);
    const json = await admin("/workflows/transfer/ok-1", { accept: "application/json" });
    assert.equal(json.body.workflow.id, "ok-1");
    const root = await admin("/");
    assert.match(root.headers.get("content-type")!, /^text\/html/);
    const script = await admin("/console/app.js");
    assert.match(script.headers.get("content-type")!, /^text\/javascript/);
    assert.equal(script.headers.get("cache-control"), "no-cache");
    const again = await admin("/console/app.js", { "if-none-match": script.headers.get("etag")! });
    assert.equal(again.status, 304);
    assert.match((await admin("/console/app.css")).headers.get("content-type")!, /^text\/css/);
    assert.equal((await admin("/console/nothing.js")).status, 404);
  });
});
