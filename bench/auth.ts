/**
 * The cost of authentication: deposits per second over HTTP at concurrency 64 (SQLite, default
 * durability) on a public route, on a route whose callers must show an HS256 token, and on one
 * with an ES256 token (its key from a JWKS, cached), each with the verified-token cache on (the
 * default) and off. The machine may be shared: the modes run in alternating rounds in one run, and
 * the figures to read are each mode's throughput relative to the public route of the same round.
 * Each of the 64 clients has its own token (a different `sub`), sent with every request.
 * Besides the rate, each line gives the server's CPU time per command, which other load on the
 * machine disturbs less: its ratio to the public route's is the cost of checking tokens in CPU.
 *
 * First, in this process, the time of one `authenticate()` call (cache hit, HS256 and ES256
 * signature checks): a figure other load disturbs little, to set against the server's CPU per command.
 *
 * stdout: one JSON line per mode and round, then one summary line per mode (median ratio); progress on stderr.
 *
 * Environment:
 *   BENCH_AUTH_ROUNDS=6        rounds of all modes
 *   BENCH_SECONDS=2            measured seconds per mode and round (after BENCH_WARMUP_SECONDS=1)
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
import { createAuthenticator } from "../src/auth/authenticator.ts";
import bench from "./entity-commands-service.ts";
import { cpuMs, forEach, listEnv, numberEnv, round, sleep } from "./support/load.ts";
import { benchProgram } from "./support/program.ts";

void bench; // the server process runs it; imported here so a broken service fails before forking
const program = benchProgram("auth");
const { log, emit } = program;
const rounds = numberEnv("BENCH_AUTH_ROUNDS", 6);
const seconds = numberEnv("BENCH_SECONDS", 2);
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

/** Microseconds per `authenticate()` of `tokens` (round robin), over `ms` after a warm-up. */
async function perCall(authenticate: (header: string) => Promise<{ ok: boolean }>, tokens: readonly string[], ms: number): Promise<number> {
  for (let i = 0; i < 2_000; i++) if (!(await authenticate(tokens[i % tokens.length]!)).ok) throw new Error("a bench token was refused");
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    for (let i = 0; i < 200; i++) await authenticate(tokens[calls++ % tokens.length]!);
  }
  return ((performance.now() - started) * 1000) / calls;
}

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
  // In process: what one check costs.
  const jwksServer = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [JSON.parse(jwk)] })));
  await new Promise<void>((ready) => jwksServer.listen(0, "127.0.0.1", ready));
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/`;
  for (const [label, cache] of [["cached", true], ["uncached", false]] as const) {
    const options = cache ? {} : { tokenCacheSize: 0 };
    const hsAuth = createAuthenticator({ issuers: [{ issuer: "bench-hs", algorithms: ["HS256"], secret }] }, options);
    const esAuth = createAuthenticator({ issuers: [{ issuer: "bench-es", algorithms: ["ES256"], jwksUrl }] }, options);
    const hsUs = await perCall((h) => hsAuth.authenticate(h), tokens["hs256"] as string[], 1_000);
    const esUs = await perCall((h) => esAuth.authenticate(h), tokens["es256"] as string[], 1_000);
    emit({ figure: "authenticate-call", tokenCache: label, hs256Us: round(hsUs, 2), es256Us: round(esUs, 2) });
  }
  jwksServer.close();

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
    const cpuRatios = new Map<string, number[]>(modes.map((m) => [m, []]));
    const cpus = new Map<string, number[]>(modes.map((m) => [m, []]));
    for (let r = 1; r <= rounds; r++) {
      let publicRate: number | undefined;
      // Alternate the order each round so no mode always follows the same one.
      const order = r % 2 === 1 ? modes : [...modes].reverse();
      const roundRates = new Map<string, number>();
      const roundCpu = new Map<string, number>();
      for (const mode of order) {
        const modeTokens = tokens[mode];
        if (!modeTokens) throw new Error(`unknown mode ${mode}`);
        if (warmupSeconds > 0) await drive(url, mode, modeTokens, warmupSeconds * 1000);
        log(`round ${r}: ${mode} measuring ${seconds}s`);
        const cpuBefore = cpuMs(child.pid!);
        const run = await drive(url, mode, modeTokens, seconds * 1000);
        const cpuAfter = cpuMs(child.pid!);
        if (cpuBefore !== null && cpuAfter !== null && run.commands > 0) roundCpu.set(mode, ((cpuAfter - cpuBefore) * 1000) / run.commands);
        if (run.errors > 0) log(`${mode}: ${run.errors} errors, first: ${String(run.firstError)}`);
        roundRates.set(mode, (run.commands * 1000) / run.elapsedMs);
      }
      publicRate = roundRates.get("public");
      const publicCpu = roundCpu.get("public");
      for (const mode of modes) {
        const rate = roundRates.get(mode)!;
        rates.get(mode)!.push(rate);
        const ratio = publicRate ? rate / publicRate : undefined;
        if (ratio !== undefined) ratios.get(mode)!.push(ratio);
        const cpu = roundCpu.get(mode);
        if (cpu !== undefined) cpus.get(mode)!.push(cpu);
        const cpuRatio = cpu !== undefined && publicCpu ? cpu / publicCpu : undefined;
        if (cpuRatio !== undefined) cpuRatios.get(mode)!.push(cpuRatio);
        emit({
          round: r,
          mode,
          concurrency,
          commandsPerSecond: Math.round(rate),
          ...(ratio === undefined ? {} : { ratioToPublic: round(ratio, 3) }),
          ...(cpu === undefined ? {} : { serverCpuUsPerCommand: round(cpu, 1) }),
          ...(cpuRatio === undefined ? {} : { cpuRatioToPublic: round(cpuRatio, 3) }),
        });
      }
      await sleep(100);
    }
    for (const mode of modes) {
      const ratio = ratios.get(mode)!;
      const cpuRatio = cpuRatios.get(mode)!;
      emit({
        figure: "summary",
        mode,
        concurrency,
        medianCommandsPerSecond: Math.round(median(rates.get(mode)!)),
        // Throughput lost to checking tokens (rate ratio to the public route, median over rounds).
        ...(ratio.length > 0 ? { medianRatioToPublic: round(median(ratio), 3), throughputCostPct: round((1 - median(ratio)) * 100, 1) } : {}),
        // Server CPU added per command by checking tokens.
        ...(cpuRatio.length > 0
          ? { medianServerCpuUsPerCommand: round(median(cpus.get(mode)!), 1), medianCpuRatioToPublic: round(median(cpuRatio), 3), cpuCostPct: round((median(cpuRatio) - 1) * 100, 1) }
          : {}),
      });
    }
  } finally {
    child.send({ type: "close" });
    await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
    program.removeDataDirs();
  }
}

await program.run(main);
