/**
 * Lays out a workflow's step graph for an SVG picture: pure (no DOM), so it is unit-tested.
 * A workflow's declared steps go in one row in declaration order, between a start and an end;
 * edges are the moves this instance made (and failovers, dashed). A saga's forward steps go in
 * the top row and its compensations ("undo …") in the row below, run right to left.
 */

export interface WorkflowShape {
  name: string;
  steps: string[];
  failoverTo: Record<string, string>;
  onCancel: string | null;
  saga: { steps: Array<{ name: string; compensable: boolean }>; compensationStep: string } | null;
}

/** What this instance did: the steps it entered in order, where it is, and (a saga) what it undid. */
export interface InstancePath {
  visited: string[];
  current: string | null;
  /** ended, terminated, failed, … */
  status: string;
  compensated: string[];
  /** A saga in its compensations: the step they are undoing now (or stopped at), from the admin API. */
  undoing: string | null;
}

export interface GraphNode {
  id: string;
  label: string;
  x: number;
  y: number;
  w: number;
  h: number;
  kind: "terminal" | "step" | "compensation";
  taken: boolean;
  current: boolean;
  /** A saga's forward step that failed for good (the compensations started after it). */
  failed?: boolean;
  /** A saga's step without a compensation that an operator said they undid by hand. */
  undoneByHand?: boolean;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** SVG path data. */
  d: string;
  taken: boolean;
  dashed: boolean;
}

export interface GraphLayout {
  width: number;
  height: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const W = 124;
const H = 40;
const TW = 100;
const GAP = 44;
const ROW1 = 24;
const ROW2 = 124;

/** The steps an instance entered, in order, from its history's step names (repeats of the same step collapsed). */
export function visitedSteps(history: ReadonlyArray<{ step: string | null }>): string[] {
  const visited: string[] = [];
  for (const t of history) if (t.step !== null && visited.at(-1) !== t.step) visited.push(t.step);
  return visited;
}

function edgePath(a: GraphNode, b: GraphNode, bend = 0): string {
  const ax = a.x + a.w / 2;
  const ay = a.y + a.h / 2;
  const bx = b.x + b.w / 2;
  const by = b.y + b.h / 2;
  // Leave and enter at the box borders facing each other.
  const sameRow = Math.abs(ay - by) < 1;
  const start = sameRow ? { x: bx > ax ? a.x + a.w : a.x, y: ay } : { x: ax, y: by > ay ? a.y + a.h : a.y };
  const end = sameRow ? { x: bx > ax ? b.x : b.x + b.w, y: by } : { x: bx, y: by > ay ? b.y : b.y + b.h };
  if (bend === 0) return `M${start.x},${start.y} L${end.x},${end.y}`;
  const cx = (start.x + end.x) / 2;
  const cy = (start.y + end.y) / 2 + bend;
  return `M${start.x},${start.y} Q${cx},${cy} ${end.x},${end.y}`;
}

const byIdOf = (nodes: GraphNode[], id: string) => nodes.find((n) => n.id === id);

const over = (status: string) => status === "ended" || status === "terminated";

/** The picture of `shape` with `path` (this instance) highlighted. */
export function layoutGraph(shape: WorkflowShape, path: InstancePath): GraphLayout {
  return shape.saga ? layoutSaga(shape, shape.saga, path) : layoutWorkflow(shape, path);
}

function terminal(id: string, label: string, x: number, y: number, taken: boolean): GraphNode {
  return { id, label, x, y: y + 4, w: TW, h: H - 8, kind: "terminal", taken, current: false };
}

function layoutWorkflow(shape: WorkflowShape, path: InstancePath): GraphLayout {
  const nodes: GraphNode[] = [terminal("$start", "start", 8, ROW1, true)];
  let x = 8 + TW + GAP;
  for (const step of shape.steps) {
    nodes.push({ id: step, label: step, x, y: ROW1, w: W, h: H, kind: "step", taken: path.visited.includes(step), current: path.current === step && !over(path.status) });
    x += W + GAP;
  }
  nodes.push(terminal("$end", path.status === "terminated" ? "terminated" : "end", x, ROW1, over(path.status)));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const index = (id: string) => nodes.findIndex((n) => n.id === id);
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  const add = (from: string, to: string, taken: boolean, dashed: boolean) => {
    const key = `${from}>${to}`;
    const a = byId.get(from);
    const b = byId.get(to);
    if (seen.has(key) || !a || !b || from === to) return;
    seen.add(key);
    const distance = index(to) - index(from);
    // Neighbours get a straight line; farther moves arc above (forward) or below (backward).
    const bend = distance === 1 ? 0 : distance > 0 ? -28 - 8 * distance : 28 + 8 * Math.abs(distance);
    edges.push({ from, to, d: edgePath(a, b, bend), taken, dashed });
  };
  const moves = ["$start", ...path.visited, ...(over(path.status) ? ["$end"] : [])];
  for (let i = 1; i < moves.length; i++) add(moves[i - 1]!, moves[i]!, true, false);
  if (path.visited.length === 0 && shape.steps[0] !== undefined) add("$start", shape.steps[0], false, false);
  for (const [from, to] of Object.entries(shape.failoverTo)) add(from, to, false, true);
  return { width: x + TW + 8, height: ROW2 + 8, nodes, edges };
}

function layoutSaga(shape: WorkflowShape, saga: NonNullable<WorkflowShape["saga"]>, path: InstancePath): GraphLayout {
  const compensating = path.visited.includes(saga.compensationStep);
  const nodes: GraphNode[] = [terminal("$start", "start", 8, ROW1, true)];
  let x = 8 + TW + GAP;
  const columns = new Map<string, number>();
  for (const step of saga.steps) {
    columns.set(step.name, x);
    nodes.push({ id: step.name, label: step.name, x, y: ROW1, w: W, h: H, kind: "step", taken: path.visited.includes(step.name), current: path.current === step.name && !over(path.status) });
    x += W + GAP;
  }
  const completed = path.status === "ended" && !compensating;
  nodes.push(terminal("$end", "completed", x, ROW1, completed));
  const undone = new Set(path.compensated);
  for (const step of saga.steps) {
    if (!step.compensable) {
      // Counted undone without a compensation of its own: the operator undid it by hand.
      const node = undone.has(step.name) ? byIdOf(nodes, step.name) : undefined;
      if (node) Object.assign(node, { label: `${step.name} (undone by hand)`, undoneByHand: true });
      continue;
    }
    const id = `undo:${step.name}`;
    nodes.push({ id, label: `undo ${step.name}`, x: columns.get(step.name)!, y: ROW2, w: W, h: H, kind: "compensation", taken: undone.has(step.name), current: false });
  }
  if (path.undoing !== null && !over(path.status)) {
    // A step with no compensation (one done in part that stopped the saga) is marked where it stands.
    const node = byIdOf(nodes, `undo:${path.undoing}`) ?? byIdOf(nodes, path.undoing);
    if (node) node.current = true;
  }
  nodes.push(terminal("$compensated", "compensated", 8, ROW2, compensating && path.status === "ended"));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges: GraphEdge[] = [];
  const add = (from: string, to: string, taken: boolean, dashed = false) => {
    const a = byId.get(from);
    const b = byId.get(to);
    if (a && b) edges.push({ from, to, d: edgePath(a, b), taken, dashed });
  };
  const forward = ["$start", ...saga.steps.map((s) => s.name), "$end"];
  for (let i = 1; i < forward.length; i++) {
    const to = forward[i]!;
    add(forward[i - 1]!, to, to === "$end" ? completed : path.visited.includes(to));
  }
  // The step that failed for good is the last forward step entered before the compensations.
  const forwardVisited = path.visited.filter((s) => s !== saga.compensationStep);
  const failed = compensating ? forwardVisited.at(-1) : undefined;
  // Entered, then failed: not to be read as done.
  const failedNode = failed === undefined ? undefined : byId.get(failed);
  if (failedNode) failedNode.failed = true;
  const undos = saga.steps.filter((s) => s.compensable).map((s) => `undo:${s.name}`);
  saga.steps.forEach((step, i) => {
    // A step that fails for good undoes the compensable steps before it (the nearest first).
    const target = saga.steps.slice(0, i).reverse().find((s) => s.compensable);
    if (target) add(step.name, `undo:${target.name}`, failed === step.name && undone.has(target.name), true);
  });
  for (let i = undos.length - 1; i >= 1; i--) add(undos[i]!, undos[i - 1]!, byId.get(undos[i - 1]!)!.taken && byId.get(undos[i]!)!.taken);
  if (undos[0] !== undefined) add(undos[0], "$compensated", compensating && path.status === "ended");
  return { width: x + TW + 8, height: ROW2 + H + 12, nodes, edges };
}
