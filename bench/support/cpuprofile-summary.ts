/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by file, and
 * inclusive time of a few functions worth watching, as percentages of the sampled time.
 *
 * Run: node --import tsx bench/support/cpuprofile-summary.ts FILE.cpuprofile [top=25] [watch,names]
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg, watchArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: cpuprofile-summary FILE.cpuprofile [top] [fn1,fn2]");
  process.exit(2);
}
const top = Number(topArg ?? 25);
// A second profile where `top` belongs (a glob that matched the worker thread's too) would print nothing.
if (!Number.isInteger(top) || top <= 0) {
  console.error(`top must be a whole number of lines (got ${JSON.stringify(topArg)}): one profile at a time`);
  process.exit(2);
}
const watch = (watchArg ?? "commit,flush,immediate,tryTurn,route,workflowResult,waitForEnd,writeHead,end,parserOnHeadersComplete,runStep,JSON.stringify,stringify,parse,validateInput,requestHash")
  .split(",")
  .filter(Boolean);

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const self = new Map<number, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
});

const short = (url: string) => url.replace(/^file:\/\//, "").replace(/^.*\/(node_modules|src|bench|examples)\//, "$1/");
const label = (f: CallFrame) => `${f.functionName || "(anonymous)"} ${short(f.url)}${f.url ? `:${f.lineNumber + 1}` : ""}`;

const selfByFn = new Map<string, number>();
const selfByFile = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, t] of self) {
  const node = byId.get(id)!;
  selfByFn.set(label(node.callFrame), (selfByFn.get(label(node.callFrame)) ?? 0) + t);
  const where = node.callFrame.url ? short(node.callFrame.url).replace(/:\d+$/, "") : `(${node.callFrame.functionName || "native"})`;
  selfByFile.set(where, (selfByFile.get(where) ?? 0) + t);
  // Inclusive: each watched name counted once per sample stack.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const name = byId.get(cur)!.callFrame.functionName;
    if (watch.includes(name) && !seen.has(name)) {
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + t);
    }
  }
}

const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>, n: number) => {
  console.log(`\n${title}`);
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${pct(t)}  ${k}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
print("self time by function", selfByFn, top);
print("self time by file", selfByFile, 15);
print("inclusive time of watched functions", inclusive, watch.length);
