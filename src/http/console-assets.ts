import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The web console's files (index.html, app.js, app.css), built by `npm run build` into
 * dist/console/ and served by the admin server: the page at `/` and at every deep link a browser
 * navigates to (it routes on the client), the script and style under `/console/`.
 */
interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const here = dirname(fileURLToPath(import.meta.url));
/** From dist/http/ (the package) the console is ../console; from src/http/ (tests, source runs) ../../dist/console. */
const candidates = [resolve(here, "../console"), resolve(here, "../../dist/console")];

const files: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
};

/** Everything the page loads comes from this server; nothing inline, no other origin (it works offline). */
export const consoleCsp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let cache: { dir: string; assets: Map<string, Asset> } | undefined;

/** The built console's folder, or undefined when it was not built. */
export function consoleDir(): string | undefined {
  return candidates.find((dir) => existsSync(join(dir, "index.html")));
}

function load(): Map<string, Asset> | undefined {
  const dir = consoleDir();
  if (dir === undefined) return undefined;
  if (cache?.dir === dir) return cache.assets;
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(files)) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    const body = readFileSync(path);
    assets.set(name, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` });
  }
  cache = { dir, assets };
  return assets;
}

/** Whether a GET is a browser asking for a page (a navigation), as opposed to a client asking for JSON. */
export function wantsPage(req: IncomingMessage, pathname: string): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if (pathname === "/" || pathname.startsWith("/console/")) return true;
  if (pathname === "/health") return false;
  const accept = req.headers.accept ?? "";
  return accept.includes("text/html") || req.headers["sec-fetch-mode"] === "navigate";
}

/** Answers a console request: an asset under /console/, else the page. */
export function sendConsole(req: IncomingMessage, res: ServerResponse, pathname: string): void {
  const assets = load();
  const name = pathname.startsWith("/console/") ? pathname.slice("/console/".length) : "index.html";
  const asset = assets?.get(name);
  const security = {
    "content-security-policy": consoleCsp,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
  if (asset === undefined) {
    const text = assets === undefined ? "The console is not built: run `npm run build`.\n" : `No console file ${name}.\n`;
    res.writeHead(assets === undefined ? 503 : 404, { "content-type": "text/plain; charset=utf-8", ...security });
    res.end(text);
    return;
  }
  // Revalidated on every load (a few hundred bytes when unchanged), so an upgrade shows at once.
  const headers = { "content-type": asset.type, "cache-control": "no-cache", etag: asset.etag, ...security };
  if (req.headers["if-none-match"] === asset.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, "content-length": asset.body.length });
  res.end(req.method === "HEAD" ? undefined : asset.body);
}
