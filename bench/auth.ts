/**
 * The cost of authentication: deposits per second over HTTP at concurrency 64 (SQLite, default
 * durability) on a public route, on a route whose callers must show an HS256 token, and on one
 * with an ES256 token (its key from a JWKS, cached), each with the verified-token cache on (the
 * default) and off. The machine may be shared: the modes run in alternating rounds in one run, and
 * the figures to read are each mode's throughput relative to the public route of the same round.
 * Each of the 64 clients has its own token (a different `sub`), sent with every request.
 *
 * stdout: one JSON line per mode and round, then one summary line per mode (median ratio); progress on stderr.
 *
 * Environment:
 *   BENCH_AUTH_ROUNDS=3        rounds of all modes
 *   BENCH_SECONDS=3            measured seconds per mode and round (after BENCH_WARMUP_SECONDS=1)
 *   BENCH_CONCURRENCY=64
 *   BENCH_ENTITIES=10000
 *   BENCH_AUTH_MODES=public,hs256,es256,hs256-nocache,es256-nocache
 *
 * Run: npm run bench (after the entity-commands bench), or npm run bench:auth
 */
import { fork, type ChildProcess } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import bench from "./entity-commands-service.ts";
import { forEach, listEnv, numberEnv, round, sleep } from "./support/load.ts";
import { benchProgram } from "./support/program.ts";

void bench; // the server process runs it; imported here so a broken service fails before forking
const program = benchProgram("auth");
const { log, emit } = program;
const rounds = numberEnv("BENCH_AUTH_ROUNDS", 3);
const seconds = numberEnv("BENCH_SECONDS", 3);
const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 1);
const concurrency = numberEnv("BENCH_CONCURRENCY", 64);
const entities = numberEnv("BENCH_ENTITIES", 10_000);
const modes = listEnv("BENCH_AUTH_MODES", "public,hs256,es256,hs256-nocache,es256-nocache");
const ids = Array.from({ length: entities }, (_, i) => `w${i}`);

function post(agent: http.Agent, url: URL, path: string, body: string, authorization: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    if (authorization !== undefined) headers["authorization"] = authorization;
    const req = http.request({ agent, host: url.hostname, port: url.port, method: "POST", path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Keeps `concurrency` deposits in flight for `ms`; client i always sends token i. */
async function drive(url: URL, mode: string, tokens: readonly (string | undefined)[], ms: number): Promise<{ commands: number; errors: number; firstError: unknown; elapsedMs: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let commands = 0;
  let errors = 0;
  let firstError: unknown;
  let stop = false;
  const worker = async (client: number) => {
    while (!stop) {
      const id = ids[Math.floor(Math.random() * ids.length)]!;
      try {
        await post(agent, url, `/${mode}/wallet/${id}/deposit`, '{"amount":1}', tokens[client]);
        commands++;
      } catch (error) {
        errors++;
        firstError ??= error;
      }
    }
  };
  const timer = setTimeout(() => (stop = true), ms);
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  clearTimeout(timer);
  agent.destroy();
  return { commands, errors, firstError, elapsedMs: performance.now() - started };
}

function startServer(dir: string, secret: string, jwk: string): Promise<{ child: ChildProcess; url: URL }> {
  const script = fileURLToPath(new URL("./auth-server.ts", import.meta.url));
  const child = fork(script, [dir, secret, jwk], { execArgv: ["--import", "tsx"], stdio: ["ignore", 2, 2, "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`auth bench server exited with ${code} before it was ready`)));
    child.once("message", (message: { type: string; url: string }) => {
      if (message.type === "ready") resolve({ child, url: new URL(message.url) });
    });
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(): Promise<void> {
  const secret = "bench-secret-0123456789abcdef0123456789";
  const es = await generateKeyPair("ES256");
  const jwk = JSON.stringify({ ...(await exportJWK(es.publicKey)), kid: "bench", alg: "ES256", use: "sig" });
  const hsKey = new TextEncoder().encode(secret);
  const tokens: Record<string, (string | undefined)[]> = { public: [], hs256: [], es256: [] };
  for (let i = 0; i < concurrency; i++) {
    const claims = { roles: ["customer"] };
    tokens["public"]!.push(undefined);
    tokens["hs256"]!.push(`Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer("bench-hs").setSubject(`client-${i}`).setIssuedAt().setExpirationTime("2h").sign(hsKey)}`);
    tokens["es256"]!.push(`Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "bench" }).setIssuer("bench-es").setSubject(`client-${i}`).setIssuedAt().setExpirationTime("2h").sign(es.privateKey)}`);
  }
  tokens["hs256-nocache"] = tokens["hs256"]!;
  tokens["es256-nocache"] = tokens["es256"]!;
  const dir = program.newDataDir("auth");
  log(`node ${process.version}; ${rounds} rounds of ${modes.join(", ")}; ${seconds}s each after ${warmupSeconds}s warm-up; concurrency ${concurrency}; ${entities} wallets in ${dir}`);
  const { child, url } = await startServer(dir, secret, jwk);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  try {
    const setup = new http.Agent({ keepAlive: true, maxSockets: 256 });
    await forEach(ids, 256, (id) => post(setup, url, `/public/wallet/${id}/create`, '{"initialBalance":0}', undefined));
    setup.destroy();
    const ratios = new Map<string, number[]>(modes.map((m) => [m, []]));
    const rates = new Map<string, number[]>(modes.map((m) => [m, []]));
    for (let r = 1; r <= rounds; r++) {
      let publicRate: number | undefined;
      // Alternate the order each round so no mode always follows the same one.
      const order = r % 2 === 1 ? modes : [...modes].reverse();
      const roundRates = new Map<string, number>();
      for (const mode of order) {
        const modeTokens = tokens[mode];
        if (!modeTokens) throw new Error(`unknown mode ${mode}`);
        if (warmupSeconds > 0) await drive(url, mode, modeTokens, warmupSeconds * 1000);
        log(`round ${r}: ${mode} measuring ${seconds}s`);
        const run = await drive(url, mode, modeTokens, seconds * 1000);
        if (run.errors > 0) log(`${mode}: ${run.errors} errors, first: ${String(run.firstError)}`);
        roundRates.set(mode, (run.commands * 1000) / run.elapsedMs);
      }
      publicRate = roundRates.get("public");
      for (const mode of modes) {
        const rate = roundRates.get(mode)!;
        rates.get(mode)!.push(rate);
        const ratio = publicRate ? rate / publicRate : undefined;
        if (ratio !== undefined) ratios.get(mode)!.push(ratio);
        emit({ round: r, mode, concurrency, commandsPerSecond: Math.round(rate), ...(ratio === undefined ? {} : { ratioToPublic: round(ratio, 3) }) });
      }
      await sleep(100);
    }
    for (const mode of modes) {
      const ratio = ratios.get(mode)!;
      emit({
        figure: "summary",
        mode,
        concurrency,
        medianCommandsPerSecond: Math.round(median(rates.get(mode)!)),
        ...(ratio.length > 0 ? { medianRatioToPublic: round(median(ratio), 3), costPct: round((1 - median(ratio)) * 100, 1) } : {}),
      });
    }
  } finally {
    child.send({ type: "close" });
    await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
    program.removeDataDirs();
  }
}

await program.run(main);
