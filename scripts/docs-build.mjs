#!/usr/bin/env node
// `npm run docs:build`: the documentation site in docs/dist/ (or the folder given as argument).
// The API reference is TypeDoc's, from the doc comments of the three public entry points, in
// api/; every page of docs/site/ becomes an HTML page with the navigation of nav.json beside it.
// Links between pages point at their .html; links to repository files at the repository
// (SAGAFLOW_DOCS_REPO_URL, e.g. https://github.com/o/sagaflow/blob/main; by default the checkout,
// relative to the built page); links into api/ must name a file TypeDoc wrote, or the build fails.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Application } from "typedoc";
import { dirname, join, posix, relative, resolve } from "node:path";
import { splitLink } from "./docs/check-links.mjs";
import { addHeadingIds, listPages, markdown, readNav, repoRoot, siteDir } from "./docs/site.mjs";

const started = performance.now();
const outDir = resolve(process.argv[2] ?? join(repoRoot, "docs/dist"));
const repoUrl = process.env.SAGAFLOW_DOCS_REPO_URL?.replace(/\/$/, "");
const EXTERNAL = /^[a-z][a-z0-9+.-]*:/i;

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
process.chdir(repoRoot); // TypeDoc reads entry points relative to the working folder
await buildApiReference(join(outDir, "api"));

const nav = readNav();
const pages = listPages();
const titles = new Map(pages.map((page) => [page, titleOf(page)]));
const problems = [];
for (const page of pages) writePage(page);
writeFileSync(join(outDir, "style.css"), readFileSync(join(repoRoot, "scripts/docs/style.css")));
for (const problem of problems) console.error(problem);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`docs:build: ${pages.length} pages and the API reference in ${relative(repoRoot, outDir).startsWith("..") ? outDir : relative(repoRoot, outDir)}, ${seconds} s`);
process.exit(problems.length === 0 ? 0 : 1);

async function buildApiReference(out) {
  const app = await Application.bootstrapWithPlugins({
    entryPoints: ["src/index.ts", "src/testkit/index.ts", "src/client/index.ts"],
    tsconfig: join(repoRoot, "tsconfig.build.json"),
    name: "Sagaflow API reference",
    readme: "none",
    // Types the entry points use without exporting them are shown where they are used.
    validation: { notExported: false },
  });
  const project = await app.convert();
  if (!project || app.logger.hasErrors()) throw new Error("TypeDoc could not read the entry points (see above)");
  await app.generateDocs(project, out);
}

function titleOf(page) {
  const title = addHeadingIds(markdown.parse(readFileSync(join(siteDir, page), "utf8"), {})).title;
  return title ?? page;
}

/** The link from page `from` (a site path) to `to` (a path in the output folder). */
function hrefFrom(from, to) {
  return posix.relative(posix.dirname(from), to) || posix.basename(to);
}

function htmlPath(page) {
  return page.replace(/\.md$/, ".html");
}

/** Where a link of `page` points in the built site. */
function rewrite(page, href, line) {
  if (EXTERNAL.test(href) || href.startsWith("//") || href.startsWith("#")) return href;
  const { path, anchor } = splitLink(href);
  const hash = anchor === "" ? "" : `#${encodeURIComponent(anchor)}`;
  const target = resolve(dirname(join(siteDir, page)), path);
  const inSite = relative(siteDir, target).split("\\").join("/");
  if (!inSite.startsWith("..")) {
    if (inSite === "api" || inSite.startsWith("api/")) {
      const file = inSite === "api" ? "api/index.html" : inSite;
      if (!existsSync(join(outDir, file))) problems.push(`docs/site/${page}:${line}: ${href}: TypeDoc wrote no ${file}`);
      return hrefFrom(htmlPath(page), file) + hash;
    }
    if (inSite.endsWith(".md")) return hrefFrom(htmlPath(page), htmlPath(inSite)) + hash;
    copyInto(target, inSite);
    return hrefFrom(htmlPath(page), inSite) + hash;
  }
  const inRepo = relative(repoRoot, target).split("\\").join("/");
  if (repoUrl) return `${repoUrl}/${inRepo}${hash}`;
  // Without a repository URL, the checkout itself: the built page is in outDir.
  return encodeURI(posix.relative(posix.dirname(join(outDir, htmlPath(page)).split("\\").join("/")), target.split("\\").join("/"))) + hash;
}

function copyInto(from, to) {
  mkdirSync(dirname(join(outDir, to)), { recursive: true });
  copyFileSync(from, join(outDir, to));
}

function writePage(page) {
  const tokens = markdown.parse(readFileSync(join(siteDir, page), "utf8"), {});
  addHeadingIds(tokens);
  for (const token of tokens) {
    for (const child of [token, ...(token.children ?? [])]) {
      const attr = child.type === "link_open" ? "href" : child.type === "image" ? "src" : null;
      if (attr) child.attrSet(attr, rewrite(page, child.attrGet(attr), (token.map?.[0] ?? 0) + 1));
    }
  }
  const body = markdown.renderer.render(tokens, markdown.options, {});
  const file = join(outDir, htmlPath(page));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, layout(page, body));
}

function escapeHtml(text) {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function navHtml(page) {
  const here = htmlPath(page);
  const sections = nav.sections.map((section) => {
    const items = section.items.map((item) => {
      if (typeof item !== "string") return `<li><a href="${escapeHtml(hrefFrom(here, item.href))}">${escapeHtml(item.title)}</a></li>`;
      const current = item === page ? ' aria-current="page"' : "";
      return `<li><a href="${escapeHtml(hrefFrom(here, htmlPath(item)))}"${current}>${escapeHtml(titles.get(item) ?? item)}</a></li>`;
    });
    return `<h2>${escapeHtml(section.title)}</h2>\n<ul>\n${items.join("\n")}\n</ul>`;
  });
  return sections.join("\n");
}

function layout(page, body) {
  const title = titles.get(page) ?? page;
  const home = hrefFrom(htmlPath(page), "index.html");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — ${escapeHtml(nav.title)}</title>
<link rel="stylesheet" href="${hrefFrom(htmlPath(page), "style.css")}">
</head>
<body>
<nav class="site-nav">
<p class="site-title"><a href="${home}">${escapeHtml(nav.title)}</a></p>
${navHtml(page)}
</nav>
<main>
${body}
</main>
</body>
</html>
`;
}
