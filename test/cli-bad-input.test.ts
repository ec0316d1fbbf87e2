import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cli } from "./support/cli.ts";
import { postJson } from "./support/http.ts";
import { repoRoot, SagaflowProcess, tempDir } from "./support/server-process.ts";

/**
 * Issue 11, point 8, with the real CLI: help per command, --version, unknown or misspelt flags
 * refused with a suggestion, and --admin without a scheme.
 */

const version = (JSON.parse(readFileSync(`${repoRoot}/package.json`, "utf8")) as { version: string }).version;

describe("sagaflow CLI: help and version", () => {
  it("<command> --help prints that command's help and exits 0, running nothing", async () => {
    const expected: Record<string, RegExp> = {
      serve: /sagaflow serve <service module or folder>.*--port N/s,
      dev: /sagaflow dev .*restarts on file changes/s,
      workflows: /sagaflow workflows list/,
      consumers: /sagaflow consumers/,
      parked: /sagaflow parked <consumer>/,
      timers: /sagaflow timers/,
      views: /sagaflow views rebuild/,
      nodes: /sagaflow nodes/,
    };
    for (const [command, pattern] of Object.entries(expected)) {
      for (const flag of ["--help", "-h"]) {
        // Other arguments do not matter: `serve examples/bank --help` must not serve.
        const run = await cli([command, "examples/bank", flag]);
        assert.equal(run.code, 0, `${command} ${flag}: ${run.stderr}`);
        assert.match(run.stdout, pattern, `${command} ${flag}`);
        assert.equal(run.stderr, "");
      }
    }
  });

  it("--version prints the package version", async () => {
    for (const flag of ["--version", "-v"]) {
      const run = await cli([flag]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), version);
    }
  });
});

describe("sagaflow CLI: an admin command loads no runtime", () => {
  it("workflows list loads neither the stores' drivers nor the logger and metrics of a served runtime", async () => {
    const probe = join(repoRoot, "test/support/loaded-packages.mjs");
    const run = await cli(["workflows", "list", "--admin", "127.0.0.1:9"], { NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --import ${probe}` });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /cannot reach the admin API/);
    const loaded = /loaded-packages: (\[.*\])/.exec(run.stderr)?.[1];
    assert.deepEqual(JSON.parse(loaded ?? "null"), []);
  });
});

describe("sagaflow CLI: unknown and misspelt flags are errors", () => {
  it("serve --prot 3050 and serve -p 3050 fail naming the flag and suggesting --port", async () => {
    for (const [args, flag] of [
      [["serve", "examples/bank", "--prot", "3050"], "--prot"],
      [["serve", "examples/bank", "-p", "3050"], "-p"],
      [["serve", "examples/bank", "--prot=3050"], "--prot"],
      [["dev", "examples/bank", "--prot", "3050"], "--prot"],
    ] as Array<[string[], string]>) {
      const run = await cli(args);
      assert.equal(run.code, 1, `${args.join(" ")}: ${run.stdout}`);
      assert.ok(run.stderr.includes(`unknown flag ${flag}`), run.stderr);
      assert.match(run.stderr, /did you mean --port\?/);
      assert.doesNotMatch(run.stdout, /serving/);
    }
  });

  it("the operator commands refuse unknown flags too, with the closest one", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["workflows", "list", "--stauts", "running"], /unknown flag --stauts.*did you mean --status\?/],
      [["serve", "examples/bank", "--admin-prot", "0"], /unknown flag --admin-prot.*did you mean --admin-port\?/],
      [["nodes", "--amdin", "http://127.0.0.1:1"], /unknown flag --amdin.*did you mean --admin\?/],
      [["consumers", "--bogus", "1"], /unknown flag --bogus for "sagaflow consumers"/],
      [["serve", "examples/bank", "--port", "nope"], /--port must be 0\.\.65535, not nope/],
      [["serve", "examples/bank", "--admin-port", "x"], /--admin-port must be 0\.\.65535, not x/],
      [["serve", "examples/bank", "--cache-size", "0"], /--cache-size \(or SAGAFLOW_CACHE_SIZE\) must be a whole number > 0, got "0"/],
    ];
    for (const [args, pattern] of cases) {
      const run = await cli(args);
      assert.equal(run.code, 1, `${args.join(" ")}: ${run.stdout}`);
      assert.match(run.stderr, pattern, args.join(" "));
    }
  });
});

describe("sagaflow CLI: --admin without a scheme (real process)", () => {
  let server: SagaflowProcess;
  before(async () => {
    server = await SagaflowProcess.start({ target: "examples/bank" });
  });
  after(async () => {
    await server?.cleanup();
  });

  it("--admin localhost:PORT and a bare port mean http://", async () => {
    const port = new URL(await server.admin()).port;
    for (const admin of [`localhost:${port}`, `127.0.0.1:${port}`, port, `http://127.0.0.1:${port}`]) {
      const run = await cli(["workflows", "list", "--admin", admin]);
      assert.equal(run.code, 0, `--admin ${admin}: ${run.stderr}`);
      assert.match(run.stdout, /no workflows|name/);
    }
    const env = await cli(["views"], { SAGAFLOW_ADMIN: `localhost:${port}` });
    assert.equal(env.code, 0, env.stderr);
  });

  it("without --admin, the admin port is PORT + 1 when the shell has PORT, as for `sagaflow serve`", async () => {
    const port = Number(new URL(await server.admin()).port);
    const found = await cli(["workflows", "list"], { PORT: String(port - 1) });
    assert.equal(found.code, 0, found.stderr);
    assert.match(found.stdout, /no workflows|name/);
    const elsewhere = await cli(["workflows", "list"], { PORT: String(port - 2) });
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stderr, new RegExp(`cannot reach the admin API at http://127\\.0\\.0\\.1:${port - 1}\\b`));
    assert.match(elsewhere.stderr, /without it, PORT \+ 1 when PORT is set, else 3001/, "says why it looked there");
  });

  it("a-misspelt-workflow-name-in-a-list-is-refused-naming-the-workflows-there-are", async () => {
    const admin = await server.admin();
    const run = await cli(["workflows", "list", "--name", "transfr", "--admin", admin]);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, /no workflows found; this service has no workflow named "transfr" \(its workflows: .*transfer/);
    const known = await cli(["workflows", "list", "--name", "transfer", "--status", "failed", "--admin", admin]);
    assert.equal(known.code, 0, known.stderr);
  });

  it("a-wrong-workflows-action-a-missing-id-or-the-service's-port-for-admin-say-what-is-wrong", async () => {
    const admin = await server.admin();
    const unknown = await cli(["workflows", "frobnicate", "transfer", "t1", "--admin", admin]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown workflows action "frobnicate": list, show, suspend/);
    const noId = await cli(["workflows", "show", "transfer", "--admin", admin]);
    assert.equal(noId.code, 1);
    assert.match(noId.stderr, /workflows show needs <name> <id> \(got only "transfer"\)/);
    // The service's port, and a server that is not Sagaflow's (an HTML page): neither answers as the admin API.
    const other = createServer((_req, res) => res.end("<html>hello</html>"));
    await new Promise<void>((listening) => other.listen(0, "127.0.0.1", listening));
    try {
      const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      for (const [base, args] of [[server.url, ["workflows", "list"]], [server.url, ["workflows", "show", "transfer", "t1"]], [server.url, ["consumers"]], [otherUrl, ["nodes"]]] as const) {
        const wrong = await cli([...args, "--admin", base]);
        assert.equal(wrong.code, 1);
        assert.match(wrong.stderr, /did not answer as a Sagaflow admin API \(HTTP \d+\): is it the service's port\? --admin takes the admin port/, args.join(" "));
      }
    } finally {
      other.close();
    }
  });

  it("timers takes --limit, checked by the admin API; an empty page says no timers, without a more: hint", async () => {
    const admin = await server.admin();
    const none = await cli(["timers", "--limit", "5", "--admin", admin]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /no timers/);
    assert.doesNotMatch(none.stderr, /more:/);
    const bad = await cli(["timers", "--limit", "0", "--admin", admin]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid_limit: limit must be a whole number from 1 to 1000/);
  });

  it("timers retry and cancel name the timer they found none of, and anything else is the usage", async () => {
    const admin = await server.admin();
    const retry = await cli(["timers", "retry", "a/b c", "--admin", admin]);
    assert.equal(retry.code, 1);
    assert.match(retry.stderr, /not_found: no parked timer named "a\/b c"/);
    const cancel = await cli(["timers", "cancel", "nobody", "--admin", admin]);
    assert.equal(cancel.code, 1);
    assert.match(cancel.stderr, /not_found: no timer named "nobody"/);
    for (const args of [["timers", "fire", "x"], ["timers", "retry"]]) {
      const run = await cli([...args, "--admin", admin]);
      assert.equal(run.code, 1, args.join(" "));
      assert.match(run.stderr, /sagaflow timers retry\|cancel <name>/);
    }
  });

  it("an --admin that cannot be an http URL says what is expected", async () => {
    const run = await cli(["nodes", "--admin", "ftp://127.0.0.1:1"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--admin must be an http:\/\/ or https:\/\/ URL, like http:\/\/127\.0\.0\.1:3001/);
  });

  it("a service module that throws as it loads is named with the line that threw, and one that imports nothing by that name with the import", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "throws.mjs"), 'const settings = undefined;\nfunction port() {\n  return settings.port;\n}\nport();\nexport default {};\n');
    const threw = await cli(["serve", join(dir, "throws.mjs"), "--port", "0", "--data", dir]);
    assert.equal(threw.code, 1);
    assert.match(threw.stderr, /throws\.mjs failed to load: Cannot read properties of undefined \(reading 'port'\)\n\s+at port \(.*throws\.mjs:3:/);
    writeFileSync(join(dir, "imports.mjs"), 'import { nothing } from "node:path";\nexport default nothing;\n');
    const imported = await cli(["serve", join(dir, "imports.mjs"), "--port", "0", "--data", dir]);
    assert.equal(imported.code, 1);
    assert.match(imported.stderr, /imports\.mjs failed to load: The requested module 'node:path' does not provide an export named 'nothing'\n.*imports\.mjs:1\n/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("--admin-port equal to --port, or a --port whose + 1 is past the last port, is refused naming the flags", async () => {
    const dir = tempDir();
    const same = await cli(["serve", "examples/bank", "--port", "3395", "--admin-port", "3395", "--data", dir]);
    assert.equal(same.code, 1);
    assert.match(same.stderr, /the admin port and the service port are both 3395: give --admin-port another port/);
    const last = await cli(["serve", "examples/bank", "--port", "65535", "--data", dir]);
    assert.equal(last.code, 1);
    assert.match(last.stderr, /65535 \+ 1 is past the last port: give --admin-port/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("workflows list says how to read past a full page, and --after reads on across workflow names", async () => {
    for (const id of ["p1", "p2", "p3"]) await postJson(`${server.url}/transfer/${id}/start`, { from: "nobody", to: "nobody-else", amount: 1 });
    const port = new URL(await server.admin()).port;
    const first = await cli(["workflows", "list", "--admin", port, "--limit", "2"]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.stdout.match(/\bp\d\b/g), ["p1", "p2"]);
    // A saga's own status beside the workflow's: these refused their first step.
    assert.match(first.stdout, /^name\s+id\s+status\s+outcome\s+step/m);
    assert.match(first.stdout, /\bp1\s+ended\s+rejected\b/);
    const next = /more: the same command with --after "([^"]+)"/.exec(first.stderr)?.[1];
    assert.equal(next, "transfer/p2");
    const rest = await cli(["workflows", "list", "--admin", port, "--limit", "2", "--after", next]);
    assert.deepEqual(rest.stdout.match(/\bp\d\b/g), ["p3"]);
    assert.equal(rest.stderr, "", "the last page says nothing more");
    // A workflow's history reads on from a version, as its list does from a workflow.
    const shown = await cli(["workflows", "show", "transfer", "p1", "--admin", port, "--history-after", "1"]);
    assert.equal(shown.code, 0, shown.stderr);
    const { history } = JSON.parse(shown.stdout) as { history: Array<{ version: number }> };
    assert.ok(history.length > 0);
    assert.equal(history[0]!.version, 2);
  });

  it("workflows retry --undone-by-hand and --forward are refused, changing nothing, off a saga's retry or where the saga is not stopped in its compensations", async () => {
    await postJson(`${server.url}/transfer/u1/start`, { from: "nobody", to: "nobody-else", amount: 1 });
    const port = new URL(await server.admin()).port;
    const notSaga = await cli(["workflows", "retry", "transfer-workflow", "u1", "--undone-by-hand", "withdraw", "--admin", port]);
    assert.equal(notSaga.code, 1);
    assert.match(notSaga.stderr, /invalid_input.*undoneByHand applies to a saga stopped in its compensations; workflow "transfer-workflow" is not a saga/);
    const notRetry = await cli(["workflows", "cancel", "transfer", "u1", "--undone-by-hand", "withdraw", "--admin", port]);
    assert.match(notRetry.stderr, /undoneByHand goes with retry .*not cancel/);
    // The transfer was rejected (nobody's wallet): over, so there is nothing to retry.
    const over = await cli(["workflows", "retry", "transfer", "u1", "--undone-by-hand", "withdraw", "--admin", port]);
    assert.equal(over.code, 1);
    assert.match(over.stderr, /invalid_status.*cannot retry a workflow that is ended/);
    // A step named without its flag, or twice: refused before anything is sent.
    const bare = await cli(["workflows", "retry", "transfer", "u1", "withdraw", "--admin", port]);
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /unexpected "withdraw" after <name> <id>; a saga's step undone by hand goes with --undone-by-hand STEP/);
    const twice = await cli(["workflows", "retry", "transfer", "u1", "--undone-by-hand", "a", "--undone-by-hand", "b", "--admin", port]);
    assert.match(twice.stderr, /--undone-by-hand is given more than once/);
    // Forward: a saga's retry, alone, where it stopped at a step done in part.
    const forwardNotSaga = await cli(["workflows", "retry", "transfer-workflow", "u1", "--forward", "--admin", port]);
    assert.match(forwardNotSaga.stderr, /invalid_input.*forward applies to a saga stopped at a step done in part that nothing undoes; workflow "transfer-workflow" is not a saga/);
    const forwardNotRetry = await cli(["workflows", "cancel", "transfer", "u1", "--forward", "--admin", port]);
    assert.match(forwardNotRetry.stderr, /forward goes with retry .*not cancel/);
    const forwardBoth = await cli(["workflows", "retry", "transfer", "u1", "--forward", "--undone-by-hand", "withdraw", "--admin", port]);
    assert.match(forwardBoth.stderr, /forward and undoneByHand are two different answers/);
    const forwardValue = await cli(["workflows", "retry", "transfer", "u1", "--forward=yes", "--admin", port]);
    assert.match(forwardValue.stderr, /--forward takes no value/);
    const forwardOver = await cli(["workflows", "retry", "transfer", "u1", "--forward", "--admin", port]);
    assert.match(forwardOver.stderr, /invalid_status.*cannot retry a workflow that is ended/);
    // The admin API takes nothing else either: a misspelt parameter, a body, the parameter twice.
    const admin = await server.admin();
    const refusals: Array<[string, RequestInit, RegExp]> = [
      ["/workflows/transfer/u1/retry?undone_by_hand=withdraw", {}, /takes no parameter "undone_by_hand"; its only ones are undoneByHand and forward/],
      ["/workflows/transfer/u1/retry", { body: '{"undoneByHand":"withdraw"}', headers: { "content-type": "application/json" } }, /takes no body: undoneByHand and forward go in the query/],
      ["/workflows/transfer/u1/retry?forward=yes", {}, /forward takes the one value true \(retry\?forward=true\), not "yes"/],
      ["/workflows/transfer/u1/retry?forward=true&forward=true", {}, /forward takes the one value true/],
      ["/workflows/transfer/u1/retry?undoneByHand=a&undoneByHand=b", {}, /undoneByHand is given 2 times/],
      ["/workflows/transfer/u1/retry?undoneByHand=", {}, /undoneByHand is empty/],
    ];
    for (const [path, init, message] of refusals) {
      const answer = await fetch(`${admin}${path}`, { method: "POST", ...init });
      const body = (await answer.json()) as { error: { code: string; message: string } };
      assert.deepEqual([answer.status, body.error.code], [400, "invalid_input"], path);
      assert.match(body.error.message, message);
    }
    // `{}`, which many clients send with every POST, is no body: the action is decided (refused here: the saga is over).
    const empty = await fetch(`${admin}/workflows/transfer/u1/retry`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.deepEqual([empty.status, ((await empty.json()) as { error: { code: string } }).error.code], [409, "invalid_status"]);
    const shown = JSON.parse((await cli(["workflows", "show", "transfer", "u1", "--admin", port])).stdout) as { workflow: { status: string; state: { status: string } } };
    assert.deepEqual([shown.workflow.status, shown.workflow.state.status], ["ended", "rejected"]);
  });

  it("a misspelt command is named with the closest one", async () => {
    const run = await cli(["serv", "examples/bank"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /unknown command "serv"; did you mean "sagaflow serve"\?/);
  });

  it("a --postgres or --to-postgres that is another kind of URL is refused before anything is copied or served", async () => {
    const dir = tempDir();
    const serve = await cli(["serve", "examples/bank", "--postgres", "http://db.example:5432/app", "--data", dir]);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /--postgres \(or SAGAFLOW_DATABASE_URL\) must be a PostgreSQL URL like postgres:\/\//);
    const migrate = await cli(["migrate", "--data", dir, "--to-postgres", "http://db.example:5432/app"]);
    assert.equal(migrate.code, 1);
    assert.match(migrate.stderr, /--to-postgres must be a PostgreSQL URL/);
    assert.doesNotMatch(migrate.stdout, /copying/);
    // A colon missing: not a host named "base" that cannot be found.
    const typo = await cli(["serve", "examples/bank", "--postgres", "postgresql//127.0.0.1/app", "--data", dir]);
    assert.equal(typo.code, 1);
    const secret = await cli(["serve", "examples/bank", "--postgres", "postgresql//app:S3cretPw@127.0.0.1/app", "--data", dir]);
    assert.match(secret.stderr, /"postgresql\/\/app:\*\*\*@127\.0\.0\.1\/app" has no/);
    assert.doesNotMatch(secret.stdout + secret.stderr, /S3cretPw/, "no password in the logs");
    assert.match(typo.stderr, /must be a PostgreSQL URL like postgres:\/\/user@host:5432\/database; "postgresql\/\/127.0.0.1\/app" has no "postgres:\/\/"/);
    // --data left beside --postgres (from the SQLite days) is said to be ignored.
    const both = await cli(["serve", "examples/bank", "--postgres", "postgres://postgres@127.0.0.1:1/app", "--data", dir]);
    assert.equal(both.code, 1);
    assert.match(both.stdout + both.stderr, /--data is for SQLite and is ignored with --postgres/);
    rmSync(dir, { recursive: true, force: true });
  });
});
