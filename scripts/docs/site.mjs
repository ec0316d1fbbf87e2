// What the docs build and the docs check share: where the pages are, the navigation, the
// Markdown renderer, and the anchors a page's headings get (GitHub's, so links work there too).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import MarkdownIt from "markdown-it";

export const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const siteDir = join(repoRoot, "docs/site");

/** A file as messages name it: relative to the repository when inside it. */
export function shown(path) {
  const inside = relative(repoRoot, path);
  return inside.startsWith("..") ? path : inside.split("\\").join("/");
}

/** Site pages, relative to docs/site with "/" separators (docs/site/README.md is about the site, not in it). */
export function listPages(dir = siteDir) {
  const pages = [];
  const walk = (folder) => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".md")) pages.push(relative(dir, path).split("\\").join("/"));
    }
  };
  walk(dir);
  return pages.filter((page) => page !== "README.md");
}

/**
 * docs/site/nav.json: `{"title", "sections": [{"title", "items": [page | {"title", "href"}]}]}`,
 * where a page is a path under docs/site and `href` a link out of the pages (the API reference).
 * Throws on a malformed file, so neither the build nor the check runs on a nav it misreads.
 */
export function readNav(dir = siteDir) {
  const nav = JSON.parse(readFileSync(join(dir, "nav.json"), "utf8"));
  const bad = (why) => new Error(`docs/site/nav.json: ${why}`);
  if (typeof nav.title !== "string" || !Array.isArray(nav.sections)) throw bad('needs "title" and "sections"');
  for (const section of nav.sections) {
    if (typeof section.title !== "string" || !Array.isArray(section.items)) throw bad('each section needs "title" and "items"');
    for (const item of section.items) {
      const ok = (typeof item === "string" && item.endsWith(".md")) || (typeof item?.title === "string" && typeof item?.href === "string");
      if (!ok) throw bad(`section "${section.title}": ${JSON.stringify(item)} is neither a page (.md) nor {"title", "href"}`);
    }
  }
  return nav;
}

/** The pages the nav lists, in order. */
export function navPages(nav) {
  return nav.sections.flatMap((section) => section.items.filter((item) => typeof item === "string"));
}

export const markdown = new MarkdownIt({ html: false, linkify: false, typographer: false });

/** The text a heading shows, from its inline tokens (code spans without their backticks). */
function headingText(inline) {
  return (inline.children ?? []).filter((t) => t.type === "text" || t.type === "code_inline").map((t) => t.content).join("");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(text) {
  return text.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/**
 * Gives every heading of the parsed tokens its anchor (`id`), repeated ones numbered as GitHub
 * does (`setup`, `setup-1`), and returns the anchors and the first `# Title`.
 */
export function addHeadingIds(tokens) {
  const seen = new Map();
  const anchors = [];
  let title;
  tokens.forEach((token, i) => {
    if (token.type !== "heading_open") return;
    const text = headingText(tokens[i + 1]);
    if (token.tag === "h1" && title === undefined) title = text;
    const base = slug(text);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    const id = count === 0 ? base : `${base}-${count}`;
    token.attrSet("id", id);
    anchors.push(id);
  });
  return { anchors, title };
}

/** The anchors and title of a Markdown file. */
export function pageOutline(path) {
  return addHeadingIds(markdown.parse(readFileSync(path, "utf8"), {}));
}

/** The ```ts blocks of a Markdown text: `checked` false for ```ts no-check, `file` from ```ts file=NAME. */
export function tsBlocks(text) {
  const blocks = [];
  for (const token of markdown.parse(text, {})) {
    if (token.type !== "fence") continue;
    const [lang, ...flags] = token.info.trim().split(/\s+/);
    if (lang !== "ts" && lang !== "typescript") continue;
    const file = flags.find((flag) => flag.startsWith("file="))?.slice("file=".length);
    // token.map is [first line of the fence, line after it], 0-based; code starts one line below the fence.
    blocks.push({ code: token.content, line: token.map[0] + 2, checked: !flags.includes("no-check"), file });
  }
  return blocks;
}
