import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { getJson } from "./support/http.ts";
import { repoRoot, sagaflowBin, sleep, tempDir } from "./support/server-process.ts";

/**
 * Issue 11, point 8: `sagaflow dev` keeps restarting after saves by rename (how many editors save:
 * write a temp file, rename it over the original), not only after the first.
 */

const dir = tempDir("sagaflow-dev-");
let dev: ChildProcess | undefined;
after(async () => {
  if (dev && dev.exitCode === null && dev.signalCode === null) {
    const gone = new Promise((done) => dev!.once("exit", done));
    dev.kill("SIGTERM");
    await gone;
  }
  rmSync(dir, { recursive: true, force: true });
});

const serviceSource = (version: number) => `import { access, keyValue, service } from ${JSON.stringify(join(repoRoot, "src/index.ts"))};
const box = keyValue("box", { expose: access.anyone, initial: () => 0, commands: {}, queries: { version: (_s, _q: {}, fx) => fx.reply({ version: ${version} }) } });
export default service("dev-test", [box]);
`;

describe("sagaflow dev (real process)", () => {
  it("restarts after each of several saves by rename, in the folder and a sub-folder", { timeout: 90_000 }, async () => {
    const folder = join(dir, "svc");
    mkdirSync(join(folder, "lib"), { recursive: true });
    writeFileSync(join(folder, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(folder, "index.ts"), serviceSource(0));
    writeFileSync(join(folder, "lib", "note.ts"), "export const note = 0;\n");

    let output = "";
    dev = spawn(process.execPath, [sagaflowBin, "dev", folder, "--port", "0", "--data", join(dir, "data")], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    dev.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    dev.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));

    /** The URL of the n-th start (1-based), once printed. */
    const nthStart = async (n: number): Promise<string> => {
      for (let waited = 0; waited < 30_000; waited += 100) {
        const urls = [...output.matchAll(/serving "dev-test" .* on (http:\/\/\S+)/g)].map((m) => m[1]!);
        if (urls.length >= n) return urls[n - 1]!;
        await sleep(100);
      }
      throw new Error(`no start number ${n} within 30 s:\n${output}`);
    };

    const first = await nthStart(1);
    assert.deepEqual((await getJson(`${first}/box/b/version`)).body, { version: 0 });

    /** Saves `content` to `file` as an editor does: a temp file, renamed over the original. */
    const saveByRename = (file: string, content: string, temp: string) => {
      writeFileSync(temp, content);
      renameSync(temp, file);
    };

    for (let version = 1; version <= 3; version++) {
      saveByRename(join(folder, "index.ts"), serviceSource(version), join(folder, `.index.ts.${version}.tmp`));
      const url = await nthStart(version + 1);
      assert.deepEqual((await getJson(`${url}/box/b/version`)).body, { version }, output);
    }
    // A plain write after the renames still counts (the watch was not lost), and so does a file in a sub-folder.
    writeFileSync(join(folder, "index.ts"), serviceSource(4));
    assert.deepEqual((await getJson(`${await nthStart(5)}/box/b/version`)).body, { version: 4 }, output);
    saveByRename(join(folder, "lib", "note.ts"), "export const note = 1;\n", join(folder, "lib", "note.ts~"));
    await nthStart(6);
    assert.match(output, /lib\/note\.ts.* changed, restarting/);
  });
});
