import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import type { Locator } from "playwright-core";
import { until } from "../src/runtime/test-support.ts";
import { browserMissing, ensureConsoleBuilt, openBrowser, outputDir, withScreenshot, type Browser } from "./support/browser.ts";
import { requestJson } from "./support/http.ts";
import { SagaflowProcess, repoRoot, tempDir } from "./support/server-process.ts";

/**
 * The web console end to end (issue 15): a real `sagaflow serve` of the bank's wallet and transfer
 * saga beside a workflow that fails until a flag file exists, a consumer that parks "poison" and a
 * view; headless Debian Chromium drives the console the admin server serves.
 */

const missing = browserMissing();
const screenshots = outputDir("console-browser");

/** `until` `ok` holds for what `read` reads (from the page or the admin API), which the timeout error shows. */
async function untilRead<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<void> {
  let last: T | undefined;
  await until(() => `${what}; last: ${JSON.stringify(last)}`, async () => ok((last = await read())), timeoutMs, { everyMs: 100 });
}

describe("the web console in a browser", { skip: missing }, () => {
  let server: SagaflowProcess;
  let admin: string;
  let browser: Browser;
  const flagDir = tempDir("sagaflow-console-flag-");
  const flagFile = join(flagDir, "fixed");
  const bellFile = join(flagDir, "bell");

  before(async () => {
    ensureConsoleBuilt();
    server = await SagaflowProcess.start({ target: join(repoRoot, "test/fixtures/console"), env: { CONSOLE_FLAG_FILE: flagFile, CONSOLE_BELL_FILE: bellFile } });
    admin = await server.admin();
    browser = await openBrowser();
    const api = server.url;
    assert.equal((await requestJson(`${api}/wallet/alice/create`, { method: "POST", body: { initialBalance: 1_000 } })).status, 200);
    assert.equal((await requestJson(`${api}/wallet/bob/create`, { method: "POST", body: { initialBalance: 0 } })).status, 200);
    for (const id of ["t-ok-1", "t-ok-2", "t-ok-3"]) {
      await requestJson(`${api}/transfer/${id}/start`, { method: "POST", body: { from: "alice", to: "bob", amount: 10 } });
    }
    // Deposits into a wallet never created: refused, so the withdrawal is compensated.
    for (const id of ["t-comp-1", "t-comp-2"]) {
      await requestJson(`${api}/transfer/${id}/start`, { method: "POST", body: { from: "alice", to: "nobody", amount: 5 } });
    }
    await untilRead("the transfers to end", async () => (await requestJson(`${admin}/workflows?name=transfer&status=ended`)).body.workflows.length, (n) => n === 5);
  });

  after(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  const page = () => browser.page;
  const check = (t: TestContext, body: () => Promise<void>) => withScreenshot(t, page(), screenshots, body);

  it("filters workflows to the compensated ones; one's step graph and timeline show what it did", async (t) => {
    await check(t, async () => {
      const p = page();
      await p.goto(`${admin}/workflows`);
      await p.selectOption('select[name="name"]', "transfer");
      await p.fill('input[name="outcome"]', "compensated");
      await p.click('button:has-text("Apply filters")');
      await p.waitForURL(/outcome=compensated/);
      const rows = p.locator("table.workflows tbody tr");
      await untilRead("two compensated rows", async () => rows.allInnerTexts(), (texts) => texts.length === 2 && texts.every((r) => r.includes("t-comp-")));
      await p.click('a:has-text("t-comp-1")');
      await p.waitForURL(/\/workflows\/transfer\/t-comp-1$/);
      const graph = p.locator('svg[aria-label="step graph of transfer"]');
      await graph.waitFor();
      for (const node of ["withdraw", "deposit", "undo:withdraw", "$compensated"]) {
        assert.equal(await graph.locator(`[data-node="${node}"]`).getAttribute("data-taken"), "true", `${node} is on the path taken`);
      }
      assert.equal(await graph.locator('[data-node="$end"]').getAttribute("data-taken"), "false", "it did not complete");
      assert.match(await graph.innerHTML(), /undo withdraw/);
      assert.deepEqual(await overflowingLabels(graph), [], "every label inside its box");
      await p.getByText("This workflow is over: no action applies to it.").waitFor();
      assert.equal(await p.locator(".actions > .action > button").count(), 0, "no action is offered on an ended workflow");
      const history = (await requestJson(`${admin}/workflows/transfer/t-comp-1`)).body.history as Array<{ version: number; detail: string }>;
      const timeline = p.locator("table.timeline tbody tr");
      await untilRead("every transition in the timeline", () => timeline.count(), (n) => n === history.length);
      const texts = await timeline.allInnerTexts();
      history.forEach((h, i) => assert.ok(texts[i]!.includes(h.detail), `row ${i} shows "${h.detail}"`));
      // The README's picture of the workflow page (SAGAFLOW_CONSOLE_SCREENSHOT=docs/console-workflow.png).
      if (process.env["SAGAFLOW_CONSOLE_SCREENSHOT"]) await p.screenshot({ path: process.env["SAGAFLOW_CONSOLE_SCREENSHOT"] });
      // Its state at each transition: the first, then the last (which the compensation changed).
      const states = (await requestJson(`${admin}/workflows/transfer/t-comp-1/states`)).body.states as Array<{ version: number; state: unknown }>;
      assert.deepEqual(states.map((s) => s.version), history.map((h) => h.version));
      await p.click('table.timeline a:has-text("after #1")');
      await p.waitForURL(/\/workflows\/transfer\/t-comp-1\?version=1$/);
      const first = p.locator('.state-at[data-version="1"]');
      assert.deepEqual(JSON.parse(await first.locator("pre.json").innerText()), states[0]!.state);
      const last = states.at(-1)!;
      await p.click(`table.timeline a:has-text("after #${last.version}")`);
      const lastPanel = p.locator(`.state-at[data-version="${last.version}"]`);
      assert.deepEqual(JSON.parse(await lastPanel.locator("pre.json").innerText()), last.state);
      await lastPanel.getByText(/changed: .*status/).waitFor();
      await p.click('a:has-text("current state")');
      await p.waitForURL(/\/workflows\/transfer\/t-comp-1$/);
    });
  });

  it("retries a failed workflow from its page once the cause is fixed, and it ends", async (t) => {
    await check(t, async () => {
      await requestJson(`${server.url}/flaky/f1/start`, { method: "POST", body: { label: "first" } });
      await untilRead("flaky f1 to fail", async () => (await requestJson(`${admin}/workflows/flaky/f1`)).body.workflow?.status, (s) => s === "failed");
      const p = page();
      await p.goto(`${admin}/workflows/flaky/f1`);
      await p.locator("h1 .badge", { hasText: "failed" }).waitFor();
      await p.locator('[role="alert"]', { hasText: "flag file" }).waitFor();
      writeFileSync(flagFile, "fixed\n");
      await p.click('button:has-text("retry")');
      await p.click('button:has-text("Confirm retry")');
      // Accepted, not yet succeeded: the answer says where it now stands and to watch its status.
      await p.locator(".result.ok", { hasText: "retry accepted: now running at step" }).waitFor();
      await p.locator("h1 .badge", { hasText: "ended" }).waitFor();
      assert.equal((await requestJson(`${admin}/workflows/flaky/f1`)).body.workflow.status, "ended");
      const graph = p.locator('svg[aria-label="step graph of flaky"]');
      await graph.locator('[data-node="finishAndNotifyTheCustomer"][data-taken="true"]').waitFor();
      assert.deepEqual(await overflowingLabels(graph), [], "a long step name is cut to its box");
      assert.equal(await graph.locator('[data-node="finishAndNotifyTheCustomer"] title').textContent(), "finishAndNotifyTheCustomer", "its whole name shows on hover");
    });
  });

  it("says on a saga’s page that its failed step took effect in part, offers no plain retry, and goes on once the operator says they undid it", async (t) => {
    await check(t, async () => {
      await requestJson(`${server.url}/payout/p1/start`, { method: "POST", body: { to: "bob" } });
      await untilRead("payout p1 to stop for an operator", async () => (await requestJson(`${admin}/workflows/payout/p1`)).body.workflow?.lastError?.code, (c) => c === "partial_step");
      const p = page();
      await p.goto(`${admin}/workflows/payout/p1`);
      const alert = p.locator('[role="alert"]', { hasText: "partial_step" });
      await alert.waitFor();
      assert.match(await alert.innerText(), /no compensation/);
      assert.match(await alert.innerText(), /Undo that part by hand \(“Kept on their own” below lists what step pay kept\), then say so with “retry: pay undone by hand”/);
      // What to undo: the deposit the step kept, linked to the wallet it went to.
      const kept = p.locator('section[aria-label^="Kept on their own"] tr.partial-row');
      await kept.waitFor();
      assert.match(await kept.innerText(), /pay\s.*call deposit \{"amount":1\} on wallet “bob”.*wf:payout:p1:1:0\s*$/s);
      await kept.locator("a", { hasText: "wallet “bob”" }).click();
      await p.locator("h2", { hasText: "bob" }).waitFor();
      assert.match(p.url(), /\/entities\/wallet\/bob$/);
      // The wallet's idempotency key of that deposit links back to the workflow that sent it.
      const keyLink = p.locator('tr[data-key="wf:payout:p1:1:0"] a');
      assert.equal(await keyLink.getAttribute("href"), "/workflows/payout/p1");
      await p.goBack();
      await alert.waitFor();
      // Only what the admin API accepts is offered: no plain retry (it would refund beside the payment).
      const buttons = p.locator(".actions > .action > button");
      await untilRead("the operator's buttons", () => buttons.allInnerTexts(), (texts) => texts.length > 0);
      assert.deepEqual(await buttons.allInnerTexts(), ["terminate", "retry: pay undone by hand", "retry: finish pay forward"]);
      // Each of them overrides what the saga would do on its own: all three look dangerous.
      assert.deepEqual(await buttons.evaluateAll((all) => all.map((b) => b.className)), ["danger-outline", "danger-outline", "danger-outline"]);
      // The step graph marks the step the stop is about, which has no compensation of its own.
      const current = p.locator('svg[aria-label="step graph of payout"] [data-current="true"]');
      let marked: Array<string | null> = [];
      await untilRead("the graph's current step", async () => (marked = await current.evaluateAll((nodes) => nodes.map((n) => n.getAttribute("data-node")))), (ids) => ids.length > 0);
      assert.deepEqual(marked, ["pay"]);
      await p.click('button:has-text("retry: pay undone by hand")');
      await p.getByText("Did you undo step pay of payout “p1” by hand?").waitFor();
      await p.click('button:has-text("Confirm retry: pay undone by hand")');
      await p.locator("h1 .badge", { hasText: "ended" }).waitFor();
      const done = (await requestJson(`${admin}/workflows/payout/p1`)).body.workflow;
      assert.deepEqual([done.state.status, done.state.undoneByHand], ["compensated", ["pay"]]);
    });
  });

  it("finishes forward a saga’s step that took effect in part: its kept deposit is not made again, and the saga completes", async (t) => {
    await check(t, async () => {
      await requestJson(`${server.url}/wallet/dora/create`, { method: "POST", body: { initialBalance: 0 } });
      await requestJson(`${server.url}/payout/p2/start`, { method: "POST", body: { to: "dora" } });
      await untilRead("payout p2 to stop for an operator", async () => (await requestJson(`${admin}/workflows/payout/p2`)).body.workflow?.lastError?.code, (c) => c === "partial_step");
      const p = page();
      await p.goto(`${admin}/workflows/payout/p2`);
      const alert = p.locator('[role="alert"]', { hasText: "partial_step" });
      await alert.getByText(/Or finish the step with “retry: finish pay forward”/).waitFor();
      await p.click('button:has-text("retry: finish pay forward")');
      await p.getByText("Finish step pay of payout “p2” forward?").waitFor();
      await p.click('button:has-text("Confirm retry: finish pay forward")');
      await p.locator("h1 .badge", { hasText: "ended" }).waitFor();
      const done = (await requestJson(`${admin}/workflows/payout/p2`)).body.workflow;
      assert.deepEqual([done.state.status, done.state.completed], ["completed", ["pay"]]);
      assert.equal((await requestJson(`${server.url}/wallet/dora/balance`)).body.balance, 1, "deposited once");
      await p.locator("table.timeline td", { hasText: /^retried forward by operator/ }).waitFor();
    });
  });

  it("skips a parked consumer message and the lag returns to 0", async (t) => {
    await check(t, async () => {
      await requestJson(`${server.url}/note/n1/write`, { method: "POST", body: { text: "poison" } });
      await untilRead("the poison note parked", async () => (await requestJson(`${admin}/consumers`)).body.consumers[0].parked, (n) => n === 1);
      const p = page();
      await p.goto(`${admin}/consumers/note-reader`);
      const row = p.locator('tr[data-consumer="note-reader"]');
      await row.locator("td.parked", { hasText: "1" }).waitFor();
      await p.locator("table.parked", { hasText: "note-reader cannot read poison" }).waitFor();
      await p.click('table.parked button:has-text("skip")');
      await p.click('button:has-text("Confirm skip")');
      await row.locator("td.parked", { hasText: /^0$/ }).waitFor();
      await row.locator("td.lag", { hasText: /^0$/ }).waitFor();
      await p.getByText("Nothing parked.").waitFor();
      // The chart is the service's own lag history (there at once, not collected by the page), now at 0.
      const chart = row.locator('svg.sparkline[aria-label^="lag of note-reader"]');
      await untilRead("the chart at 0", () => chart.getAttribute("data-now"), (v) => v === "0");
      const history = (await requestJson(`${admin}/consumers/note-reader/lag`)).body.samples as Array<{ lag: number }>;
      assert.ok(history.length >= 2 && history.at(-1)!.lag === 0);
    });
  });

  it("retries a parked timer from the timers page once its cause is fixed, and cancels another", async (t) => {
    await check(t, async () => {
      const timers = async (status: string) => (await requestJson(`${admin}/timers?status=${status}`)).body.timers as Array<{ name: string; lastError: { code: string } | null }>;
      // Started while the bell's schema accepts; due after the schema stopped accepting.
      writeFileSync(bellFile, "open\n");
      await requestJson(`${server.url}/alarm/a1/start`, { method: "POST", body: { delayMs: 1_500 } });
      await requestJson(`${server.url}/alarm/a2/start`, { method: "POST", body: { delayMs: 3_600_000 } });
      await untilRead("both timers started", async () => (await timers("pending")).map((x) => x.name).sort().join(), (v) => v === "alarm-a1,alarm-a2");
      rmSync(bellFile);
      await untilRead("alarm-a1 parked", async () => (await timers("parked")).map((x) => `${x.name} ${x.lastError?.code}`).join(), (v) => v === "alarm-a1 invalid_input");
      const p = page();
      await p.goto(`${admin}/timers`);
      const parked = p.locator("tr", { hasText: "alarm-a1" });
      await parked.locator("td", { hasText: "invalid_input" }).waitFor();
      writeFileSync(bellFile, "open\n");
      await parked.locator('button:has-text("retry")').click();
      await p.click('button:has-text("Confirm retry")');
      await untilRead("the bell rung once", async () => (await requestJson(`${server.url}/bell/a1/get`)).body, (b) => b?.rung === 1);
      await p.locator("tr", { hasText: "alarm-a1" }).waitFor({ state: "detached" });
      const pending = p.locator("tr", { hasText: "alarm-a2" });
      await pending.locator('button:has-text("cancel")').click();
      await p.click('button:has-text("Confirm cancel")');
      await pending.waitFor({ state: "detached" });
      assert.deepEqual(await timers("pending"), []);
    });
  });

  it("rebuilds a view and its progress bar reaches 100%", async (t) => {
    await check(t, async () => {
      for (let i = 0; i < 20; i++) await requestJson(`${server.url}/note/m${i}/write`, { method: "POST", body: { text: `hello ${i}` } });
      const before = (await requestJson(`${admin}/views`)).body.views[0].active.generation as number;
      const p = page();
      await p.goto(`${admin}/views`);
      await p.click('section[aria-label="notes"] button:has-text("Rebuild")');
      await p.click('button:has-text("Confirm rebuild")');
      const bar = p.locator('[role="progressbar"][aria-label="rebuild of notes"]');
      await bar.waitFor();
      await untilRead("the bar at 100%", () => bar.getAttribute("aria-valuenow"), (v) => v === "100");
      assert.equal((await requestJson(`${admin}/views`)).body.views[0].active.generation, before + 1);
    });
  });

  it("lists the idempotency keys an entity holds, a page at a time", async (t) => {
    await check(t, async () => {
      assert.equal((await requestJson(`${server.url}/wallet/carol/create`, { method: "POST", body: { initialBalance: 0 } })).status, 200);
      for (let i = 0; i <= 50; i++) {
        const key = `k-${String(i).padStart(2, "0")}`;
        const res = await requestJson(`${server.url}/wallet/carol/deposit`, { method: "POST", body: { amount: 1 }, headers: { "idempotency-key": key } });
        assert.equal(res.status, 200);
      }
      const p = page();
      await p.goto(`${admin}/entities/wallet/carol`);
      // Its current state first: the balance after its 52 events.
      const current = p.locator("section", { hasText: "Current state (after event 52)" }).locator("pre.json");
      await current.waitFor();
      assert.equal(JSON.parse(await current.innerText()).balance, 51);
      const rows = p.locator("table.idempotency-keys tbody tr");
      await untilRead("a page of 50 keys", () => rows.count(), (n) => n === 50);
      assert.equal(await rows.first().getAttribute("data-key"), "k-00");
      assert.equal(await p.locator('tr[data-key="k-00"] td').nth(2).innerText(), "ok");
      await p.click('a:has-text("Next keys")');
      await p.waitForURL(/keysAfter=k-49/);
      await untilRead("the last key alone", async () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-key"))), (keys) => keys.length === 1 && keys[0] === "k-50");
      await p.click('a:has-text("First keys")');
      await untilRead("the first page again", () => rows.count(), (n) => n === 50);
    });
  });

  it("shows the command and commit rates the service samples", async (t) => {
    await check(t, async () => {
      const p = page();
      await p.goto(`${admin}/`);
      const commands = p.locator('.tile[data-rate="commands"]');
      await commands.locator(".tile-value", { hasText: /\/s$/ }).waitFor();
      await p.locator('.tile[data-rate="commits"] .tile-value', { hasText: /\/s$/ }).waitFor();
      const shown = Number((await commands.locator(".since-start").innerText()).replace(/\D/g, ""));
      const totals = (await requestJson(`${admin}/rates`)).body.totals as { commands: number; commits: number };
      assert.ok(shown > 0 && shown <= totals.commands, `the page's ${shown} commands since start, the API's ${totals.commands} a moment later`);
    });
  });

  it("says when the admin API refuses the token saved in the browser", async (t) => {
    const token = "console-test-admin-token-0123";
    const guarded = await SagaflowProcess.start({ target: join(repoRoot, "examples/bank"), env: { SAGAFLOW_ADMIN_TOKEN: token } });
    try {
      await check(t, async () => {
        const p = page();
        const tokenButton = p.locator("header.top button.link");
        await p.goto(await guarded.admin());
        // The page's own storage (the tests' TypeScript has no DOM types).
        const saveToken = (value: string | null) =>
          p.evaluate((v) => {
            const storage = (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void; removeItem(k: string): void } }).localStorage;
            if (v === null) storage.removeItem("sagaflow-admin-token");
            else storage.setItem("sagaflow-admin-token", v);
          }, value);
        await saveToken("not-the-right-token-at-all");
        await p.reload();
        await tokenButton.filter({ hasText: "admin token ✗ refused" }).waitFor();
        await saveToken(token);
        await p.reload();
        await p.locator("h1", { hasText: "Overview" }).waitFor();
        await untilRead("the token button", () => tokenButton.innerText(), (text) => text === "admin token ✓");
        await saveToken(null);
      });
    } finally {
      await guarded.cleanup();
    }
  });

  it("shows the process map with the admin API's counts", async (t) => {
    await check(t, async () => {
      const p = page();
      await p.goto(`${admin}/process-map/transfer?window=1h`);
      const rows = p.locator("table.map-steps tbody tr");
      await untilRead("the map's steps", () => rows.count(), (n) => n === 3);
      const map = (await requestJson(`${admin}/process-map/transfer?windowMs=3600000`)).body as { steps: Array<{ step: string; passed: number; now: number }>; edges: unknown[] };
      assert.deepEqual(map.steps.map((s) => [s.step, s.passed]), [["withdraw", 5], ["deposit", 5], ["compensate", 2]]);
      for (const step of map.steps) {
        const row = p.locator(`tr[data-step="${step.step}"]`);
        assert.equal(await row.locator("td.passed").innerText(), String(step.passed));
        assert.equal(await row.locator("td.now").innerText(), String(step.now));
      }
      assert.equal(await p.locator("table.map-edges tbody tr").count(), map.edges.length);
      assert.deepEqual(await overflowingLabels(p.locator('svg[aria-label="process map of transfer"]')), [], "every label inside its box");
      await p.click('table.map-steps a:has-text("deposit")');
      await p.waitForURL(/\/workflows\?name=transfer&status=running%2Cpaused%2Csuspended%2Cfailed&step=deposit/);
    });
  });
});

/** The labels of a graph's nodes wider than their node's box, as the browser lays them out. */
function overflowingLabels(svg: Locator): Promise<string[]> {
  return svg.locator("g[data-node]").evaluateAll((nodes) =>
    nodes.flatMap((node) => {
      // SVG's own methods (the tests' TypeScript has no DOM types).
      const box = (node.querySelector("rect") as unknown as { getBBox(): { width: number } }).getBBox();
      const texts = [...node.querySelectorAll("text")] as unknown as Array<{ getComputedTextLength(): number; textContent: string | null }>;
      return texts.filter((text) => text.getComputedTextLength() > box.width).map((text) => text.textContent ?? "");
    }),
  );
}
