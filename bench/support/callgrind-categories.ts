/**
 * Where a callgrind dump's instructions went, by kind of work: V8's optimising compilers, its
 * garbage collector, SQLite, and the rest (JavaScript, V8's runtime and builtins, Node, libc).
 * Under `--predictable` V8 compiles and collects on the main thread, so both are counted; how much
 * of either falls into a short measured window depends on when tiering and a major GC happen,
 * which any change to the code moves. "rest" is the steadier figure to compare checkouts by.
 */
import { spawnSync } from "node:child_process";

export interface InstructionCategories {
  compiler: number;
  gc: number;
  sqlite: number;
  rest: number;
}

/** Inclusive entries of the call chain above the measured code (callgrind counts them as self after a zero). */
const chainAbove = [/SpinEventLoopInternal/, /libc_start/, /\(below main\)/, /ld-linux/, /\?\?\?:main /, /NodeMainInstance::Run/, /node::Start\(/, /clone\.S/, /start_thread/, /Worker::Run/, /Worker::StartThread/];
const compiler = /v8::internal::(compiler|maglev|baseline|turboshaft)::|LiveRange|Zone(List|Vector|Map|Set|Allocator)?[<:]/i;
const gc = /Scaveng|MarkCompact|Marking|Sweeper|heap::base|v8::internal::Heap::|RecordWrite|IteratePointers|Evacuat|cppgc|MemoryChunk|ConcurrentMarking|SizeFromMap/;

export function instructionCategories(dump: string): InstructionCategories | undefined {
  const annotated = spawnSync("callgrind_annotate", ["--inclusive=no", "--threshold=100", dump], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (annotated.status !== 0) return undefined;
  const totals: InstructionCategories = { compiler: 0, gc: 0, sqlite: 0, rest: 0 };
  let listing = false;
  for (const line of annotated.stdout.split("\n")) {
    if (line.includes("file:function")) listing = true;
    const entry = listing ? /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line) : null;
    if (!entry || chainAbove.some((pattern) => pattern.test(entry[2]!))) continue;
    const count = Number(entry[1]!.replaceAll(",", ""));
    const name = entry[2]!;
    const category = compiler.test(name) ? "compiler" : gc.test(name) ? "gc" : name.includes("better_sqlite3") ? "sqlite" : "rest";
    totals[category] += count;
  }
  return totals;
}
