import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { repoRoot } from "./server-process.ts";

/**
 * Debian's Chromium driven by playwright-core, for the web console's end-to-end tests. Browsers
 * are never downloaded: the tests use /usr/bin/chromium (installed by .ci/run with apt). Without
 * it they fail under CI (CI set) and are skipped with the reason elsewhere.
 */
export const chromiumPath = process.env["SAGAFLOW_CHROMIUM"] ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here, or undefined when they can; throws under CI. */
export function browserMissing(): string | undefined {
  if (existsSync(chromiumPath)) return undefined;
  const reason = `${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium) to run the console's browser tests`;
  if (process.env["CI"]) throw new Error(reason);
  return reason;
}

/** Builds the console into dist/console/ when it is not there (tests run from sources). */
export function ensureConsoleBuilt(): void {
  if (existsSync(join(repoRoot, "dist", "console", "index.html"))) return;
  const built = spawnSync(process.execPath, [join(repoRoot, "scripts", "build-console.mjs")], { stdio: "inherit" });
  if (built.status !== 0) throw new Error("building the console failed");
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Headless Chromium on a fresh profile, 1280×800. */
export async function openBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "sagaflow-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where a test's screenshots go: test-results/<file>/ (SAGAFLOW_TEST_OUTPUT overrides the root). */
export function outputDir(name: string): string {
  const dir = join(process.env["SAGAFLOW_TEST_OUTPUT"] ?? join(repoRoot, "test-results"), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Runs `body`; on failure saves a screenshot of the page named after the test, then fails. */
export async function withScreenshot(t: TestContext, page: Page, dir: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const file = join(dir, `${t.name.replace(/[^a-z0-9-]+/gi, "-")}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    t.diagnostic(`screenshot: ${file}`);
    throw error;
  }
}
