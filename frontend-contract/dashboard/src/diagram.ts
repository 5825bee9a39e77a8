// The definition drawn as a diagram: steps as boxes, arrows between them, in layers.
// A simple layered layout (longest path from the starts, cycles broken by a depth-first
// search) is enough for the sizes of real definitions (tens of steps) and is deterministic.

export type StepKind = string;

export interface DiagramNode {
  id: string;
  name: string;
  kind: StepKind;
  layer: number;
  row: number;
  x: number;
  y: number;
}

export interface DiagramEdge {
  from: string;
  to: string;
  // "flow": next; "branch": a gateway's condition or default; "boundary": a timer or error
  // attached to a task (drawn dashed); "fork": a parallel gateway's branch; "join": a branch
  // back to what follows its gateway once the branches are done
  kind: "flow" | "branch" | "boundary" | "fork" | "join";
  label?: string;
}

export interface Diagram {
  nodes: DiagramNode[];
  edges: DiagramEdge[];
  width: number;
  height: number;
}

export const BOX_WIDTH = 132;
export const BOX_HEIGHT = 44;
const GAP_X = 34;
const GAP_Y = 18;
const MARGIN = 16;

type Json = Record<string, unknown>;

function asList(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

/** The arrows of a definition's JSON (as deployed), whatever its step types. */
export function edgesOf(steps: Json[]): DiagramEdge[] {
  const ids = new Set(steps.map((s) => String(s.id)));
  const edges: DiagramEdge[] = [];
  const add = (edge: DiagramEdge) => {
    if (ids.has(edge.from) && ids.has(edge.to)) edges.push(edge);
  };
  const hasNext = new Map(steps.map((s) => [String(s.id), asList(s.next).length > 0]));
  for (const step of steps) {
    const id = String(step.id);
    const config = (step.config ?? {}) as Json;
    const branches: string[] = [];
    if (Array.isArray(config.conditions)) {
      for (const condition of config.conditions as Json[]) {
        const label = typeof condition.expression === "string" ? condition.expression : undefined;
        for (const to of asList(condition.next)) {
          add({ from: id, to, kind: "branch", label });
          branches.push(to);
        }
      }
    }
    for (const to of asList(config.default)) add({ from: id, to, kind: "branch", label: "default" });
    for (const to of asList(config.parallel_tasks)) {
      add({ from: id, to, kind: "fork" });
      branches.push(to);
    }
    // a splitting gateway's next runs once its branches are done (the join): drawn from each
    // branch that has no next of its own, not from the gateway
    const joins = branches.length > 0 && String(step.type).match(/^(parallel|inclusive)_gateway$/) !== null;
    for (const to of asList(step.next)) {
      if (!joins) add({ from: id, to, kind: "flow" });
      else for (const branch of branches) if (hasNext.get(branch) === false) add({ from: branch, to, kind: "join" });
    }
    const attached = asList(config.attached_to);
    for (const task of attached) add({ from: task, to: id, kind: "boundary" });
    if (attached.length) {
      for (const to of asList(config.action)) add({ from: id, to, kind: "flow" });
    }
  }
  return edges;
}

/** Layers by longest path from the steps nobody points at; boxes placed in a grid. */
export function layout(definition: unknown): Diagram {
  const steps = ((definition as Json | null)?.steps ?? []) as Json[];
  if (!Array.isArray(steps) || steps.length === 0) {
    return { nodes: [], edges: [], width: 0, height: 0 };
  }
  const order = steps.map((s) => String(s.id));
  const edges = edgesOf(steps);
  const out = new Map<string, string[]>(order.map((id) => [id, []]));
  const indegree = new Map<string, number>(order.map((id) => [id, 0]));
  // drop back edges (loops) so that the layering terminates: a depth-first search from the
  // roots in definition order marks an edge into a step on the current path as a back edge
  const forward: DiagramEdge[] = [];
  const state = new Map<string, 1 | 2>();
  const byFrom = new Map<string, DiagramEdge[]>(order.map((id) => [id, []]));
  for (const edge of edges) byFrom.get(edge.from)!.push(edge);
  const visit = (id: string) => {
    state.set(id, 1);
    for (const edge of byFrom.get(id)!) {
      const seen = state.get(edge.to);
      if (seen === 1) continue; // a loop back: not used for layering
      forward.push(edge);
      if (seen === undefined) visit(edge.to);
    }
    state.set(id, 2);
  };
  const targets = new Set(edges.map((e) => e.to));
  for (const id of order) if (!targets.has(id) && !state.has(id)) visit(id);
  for (const id of order) if (!state.has(id)) visit(id);
  for (const edge of forward) {
    out.get(edge.from)!.push(edge.to);
    indegree.set(edge.to, indegree.get(edge.to)! + 1);
  }
  // longest path layering over the acyclic forward edges (Kahn's order)
  const layer = new Map<string, number>(order.map((id) => [id, 0]));
  const queue = order.filter((id) => indegree.get(id) === 0);
  while (queue.length) {
    const id = queue.shift()!;
    for (const to of out.get(id)!) {
      layer.set(to, Math.max(layer.get(to)!, layer.get(id)! + 1));
      indegree.set(to, indegree.get(to)! - 1);
      if (indegree.get(to) === 0) queue.push(to);
    }
  }
  const rows = new Map<number, number>();
  const nodes: DiagramNode[] = steps.map((step) => {
    const id = String(step.id);
    const l = layer.get(id)!;
    const row = rows.get(l) ?? 0;
    rows.set(l, row + 1);
    return {
      id,
      name: typeof step.name === "string" && step.name ? step.name : id,
      kind: String(step.type ?? ""),
      layer: l,
      row,
      x: MARGIN + l * (BOX_WIDTH + GAP_X),
      y: MARGIN + row * (BOX_HEIGHT + GAP_Y),
    };
  });
  const layers = Math.max(...nodes.map((n) => n.layer)) + 1;
  const tallest = Math.max(...rows.values());
  return {
    nodes,
    edges,
    width: MARGIN * 2 + layers * BOX_WIDTH + (layers - 1) * GAP_X,
    height: MARGIN * 2 + tallest * BOX_HEIGHT + (tallest - 1) * GAP_Y,
  };
}
