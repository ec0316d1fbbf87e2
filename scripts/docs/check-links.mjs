// Checks the site's links without fetching anything: every relative link between pages and to
// repository files must name something that exists, every #anchor a heading of its page, every
// page must start with a `# Title` and be reachable (in nav.json or linked from a page), and
// every page nav.json lists must exist. The README's links are checked as a page's are. Links
// into the API reference (api/…) are checked by the build, against what TypeDoc wrote.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { addHeadingIds, listPages, markdown, navPages, pageOutline, readNav, repoRoot, shown, siteDir } from "./site.mjs";

const EXTERNAL = /^[a-z][a-z0-9+.-]*:/i;

/** Splits a link into its path and anchor (both decoded; either may be ""). */
export function splitLink(href) {
  const hash = href.indexOf("#");
  const path = hash === -1 ? href : href.slice(0, hash);
  const anchor = hash === -1 ? "" : href.slice(hash + 1);
  return { path: decodeURI(path), anchor: decodeURIComponent(anchor) };
}

/** The links (href of links, src of images) of parsed tokens, with their line. */
export function linksOf(tokens) {
  const links = [];
  for (const token of tokens) {
    for (const child of [token, ...(token.children ?? [])]) {
      const href = child.type === "link_open" ? child.attrGet("href") : child.type === "image" ? child.attrGet("src") : null;
      if (href !== null) links.push({ href, line: (token.map?.[0] ?? 0) + 1 });
    }
  }
  return links;
}

/** Returns `{ pages, links, problems }`. */
export function checkLinks(dir = siteDir) {
  const problems = [];
  const pages = listPages(dir);
  const outlines = new Map(); // absolute .md path → anchors
  const anchorsOf = (path) => {
    if (!outlines.has(path)) outlines.set(path, pageOutline(path).anchors);
    return outlines.get(path);
  };
  const nav = readNav(dir);
  const reached = new Set(navPages(nav));
  for (const page of navPages(nav)) {
    if (!pages.includes(page)) problems.push(`${shown(join(dir, "nav.json"))}: lists ${page}, which does not exist`);
  }
  let count = 0;
  // The README's links are checked too (it points into the site), but it is not a page.
  for (const page of pages.concat(dir === siteDir ? ["../../README.md"] : [])) {
    const file = join(dir, page);
    const text = readFileSync(file, "utf8");
    if (!/^# \S/.test(text)) problems.push(`${shown(file)}:1: a page starts with a "# Title" line`);
    const tokens = markdown.parse(text, {});
    const own = addHeadingIds(tokens).anchors;
    outlines.set(file, own);
    for (const { href, line } of linksOf(tokens)) {
      count++;
      const where = `${shown(file)}:${line}: ${href}`;
      if (EXTERNAL.test(href) || href.startsWith("//")) continue;
      const { path, anchor } = splitLink(href);
      if (path === "") {
        if (!own.includes(anchor)) problems.push(`${where}: no heading with that anchor on this page`);
        continue;
      }
      if (path.startsWith("/")) {
        problems.push(`${where}: use a relative link (the site may not live at the root of its host)`);
        continue;
      }
      const target = resolve(dirname(file), path);
      const inSite = relative(dir, target);
      if (!inSite.startsWith("..") && (inSite === "api" || inSite.startsWith("api/"))) continue;
      if (relative(repoRoot, target).startsWith("..")) {
        problems.push(`${where}: points outside the repository`);
        continue;
      }
      if (!existsSync(target)) {
        problems.push(`${where}: ${relative(repoRoot, target)} does not exist`);
        continue;
      }
      if (!inSite.startsWith("..") && target.endsWith(".md")) reached.add(inSite.split("\\").join("/"));
      if (anchor !== "") {
        if (!target.endsWith(".md") || !statSync(target).isFile()) problems.push(`${where}: an anchor into a file that is not Markdown`);
        else if (!anchorsOf(target).includes(anchor)) problems.push(`${where}: ${relative(repoRoot, target)} has no heading with that anchor`);
      }
    }
  }
  for (const page of pages) {
    if (!reached.has(page)) problems.push(`${shown(join(dir, page))}: not in nav.json and no page links to it`);
  }
  return { pages: pages.length, links: count, problems };
}
