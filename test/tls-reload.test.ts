import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TLSSocket } from "node:tls";
import { repoRoot, sagaflowBin } from "./support/server-process.ts";

/**
 * Issue 12, point 6: `--tls-cert/--tls-key` serve HTTPS; SIGHUP reloads the pair for new
 * connections while an open keep-alive connection goes on. Certificates are made here with openssl.
 */

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
if (!hasOpenssl) console.log("# tls-reload: skipped, openssl is not installed (needed to make a self-signed certificate)");

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const made = spawnSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
  ]);
  assert.equal(made.status, 0, made.stderr.toString());
  return { cert, key };
}

interface Answer { status: number; body: string; cn: string; reused: boolean; headers: Record<string, string | string[] | undefined> }

function get(url: string, agent: Agent): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request(url, { agent, rejectUnauthorized: false }, (res) => {
      // Read now: once the answer ends the socket goes back to the agent.
      const peer = (res.socket as TLSSocket).getPeerCertificate();
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => {
        done({ status: res.statusCode ?? 0, body, cn: String(peer.subject?.CN), reused: req.reusedSocket, headers: res.headers });
      });
    });
    req.once("error", fail);
    req.end();
  });
}

function waitFor(child: ChildProcess, pattern: RegExp, output: { text: string }): Promise<RegExpExecArray> {
  return new Promise((done, fail) => {
    const check = () => {
      const match = pattern.exec(output.text);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off("data", check);
        child.stderr!.off("data", check);
        done(match);
      }
    };
    const timer = setTimeout(() => fail(new Error(`timed out waiting for ${pattern}; output:\n${output.text}`)), 20_000);
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    check();
  });
}

describe("HTTPS with --tls-cert/--tls-key", { skip: !hasOpenssl && "openssl is not installed" }, () => {
  it("serves HTTPS with security headers (HSTS), and SIGHUP swaps the certificate without dropping a keep-alive connection", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-tls-"));
    const first = selfSigned(dir, "first");
    const second = selfSigned(dir, "second");
    const live = { cert: join(dir, "live.crt"), key: join(dir, "live.key") };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    const output = { text: "" };
    const child = spawn(process.execPath, [sagaflowBin, "serve", "examples/bank", "--port", "0", "--admin-port", "-1", "--data", dir, "--tls-cert", live.cert, "--tls-key", live.key], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk: Buffer) => (output.text += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output.text += chunk.toString()));
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const fresh = new Agent({ keepAlive: false });
    try {
      const url = (await waitFor(child, /serving .* on (https:\/\/\S+)/, output))[1]!;
      const before = await get(`${url}/health`, keepAlive);
      assert.equal(before.status, 200);
      assert.equal(before.cn, "first");
      assert.match(String(before.headers["strict-transport-security"]), /max-age=\d+/);
      assert.equal(before.headers["x-content-type-options"], "nosniff");

      copyFileSync(second.cert, live.cert);
      copyFileSync(second.key, live.key);
      child.kill("SIGHUP");
      await waitFor(child, /SIGHUP: TLS certificate and key reloaded/, output);

      const after = await get(`${url}/health`, fresh);
      assert.equal(after.status, 200);
      assert.equal(after.cn, "second", "a new connection gets the new certificate");
      const old = await get(`${url}/health`, keepAlive);
      assert.equal(old.status, 200);
      assert.ok(old.reused, "the keep-alive connection opened before the reload is still the one in use");
      assert.equal(old.cn, "first");
      // A bad pair on the next SIGHUP is refused and the service goes on with the current one.
      copyFileSync(first.cert, live.cert); // does not match the second key
      child.kill("SIGHUP");
      await waitFor(child, /TLS reload failed, the previous certificate stays/, output);
      assert.equal((await get(`${url}/health`, new Agent({ keepAlive: false }))).cn, "second");
    } finally {
      keepAlive.destroy();
      fresh.destroy();
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a missing certificate file is a start-up error naming it", () => {
    const run = spawnSync(process.execPath, [sagaflowBin, "serve", "examples/bank", "--port", "0", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem", "--data", mkdtempSync(join(tmpdir(), "sagaflow-tls-"))], { cwd: repoRoot, timeout: 20_000 });
    assert.equal(run.status, 1);
    assert.match(run.stderr.toString(), /cannot read the TLS certificate \(--tls-cert\) \/nonexistent\/cert\.pem/);
    const half = spawnSync(process.execPath, [sagaflowBin, "serve", "examples/bank", "--tls-cert", "/x.pem"], { cwd: repoRoot, timeout: 20_000 });
    assert.match(half.stderr.toString(), /--tls-cert and --tls-key go together/);
  });
});
