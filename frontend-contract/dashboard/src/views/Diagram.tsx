// The definition as an SVG diagram: boxes per step in layers, arrows between them, the steps
// the instance is at highlighted (and the ones it went through, lighter).
import { useMemo } from "preact/hooks";
import { BOX_HEIGHT, BOX_WIDTH, layout, type DiagramNode } from "../diagram";

/** The name cut to about ``units`` Latin letters' width (a CJK character counts two). */
function fit(name: string, units: number): string {
  let used = 0;
  for (let i = 0; i < name.length; i++) {
    used += name.charCodeAt(i) > 0x2e80 ? 2 : 1;
    if (used > units) return `${name.slice(0, i)}…`;
  }
  return name;
}

function shape(node: DiagramNode, classes: string) {
  const { x, y } = node;
  const cx = x + BOX_WIDTH / 2;
  const cy = y + BOX_HEIGHT / 2;
  if (node.kind.endsWith("gateway")) {
    const points = `${cx},${y} ${x + BOX_WIDTH},${cy} ${cx},${y + BOX_HEIGHT} ${x},${cy}`;
    return <polygon class={classes} points={points} />;
  }
  if (node.kind.endsWith("_event")) {
    return <rect class={classes} x={x} y={y} width={BOX_WIDTH} height={BOX_HEIGHT} rx={BOX_HEIGHT / 2} />;
  }
  return <rect class={classes} x={x} y={y} width={BOX_WIDTH} height={BOX_HEIGHT} rx={6} />;
}

export function Diagram({ definition, current, visited }: { definition: unknown; current: string[]; visited: Set<string> }) {
  const diagram = useMemo(() => layout(definition), [definition]);
  const at = new Set(current);
  const byId = new Map(diagram.nodes.map((n) => [n.id, n]));
  return (
    <svg
      class="diagram"
      width={diagram.width}
      height={diagram.height}
      viewBox={`0 0 ${diagram.width} ${diagram.height}`}
      role="img"
      aria-label="process diagram"
      data-testid="diagram"
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
        </marker>
      </defs>
      {diagram.edges.map((edge, i) => {
        const a = byId.get(edge.from)!;
        const b = byId.get(edge.to)!;
        const forward = b.layer > a.layer;
        const x1 = forward ? a.x + BOX_WIDTH : a.x + BOX_WIDTH / 2;
        const y1 = forward ? a.y + BOX_HEIGHT / 2 : a.y + BOX_HEIGHT;
        const x2 = forward ? b.x : b.x + BOX_WIDTH / 2;
        const y2 = forward ? b.y + BOX_HEIGHT / 2 : b.y + BOX_HEIGHT;
        const mid = (x1 + x2) / 2;
        const d = forward
          ? `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`
          : `M ${x1} ${y1} C ${x1} ${y1 + 40}, ${x2} ${y2 + 40}, ${x2} ${y2}`;
        return (
          <path key={i} d={d} class={`edge edge-${edge.kind}`} marker-end="url(#arrow)">
            {edge.label && <title>{edge.label}</title>}
          </path>
        );
      })}
      {diagram.nodes.map((node) => {
        const classes = ["step", `kind-${node.kind}`, at.has(node.id) ? "current" : visited.has(node.id) ? "visited" : ""].join(" ");
        return (
          <g key={node.id} data-step={node.id} data-current={at.has(node.id) ? "true" : "false"}>
            <title>{`${node.id} (${node.kind})`}</title>
            {shape(node, classes)}
            <text x={node.x + BOX_WIDTH / 2} y={node.y + BOX_HEIGHT / 2 - 3} class="label">{fit(node.name, 19)}</text>
            <text x={node.x + BOX_WIDTH / 2} y={node.y + BOX_HEIGHT / 2 + 11} class="kind">{node.kind.replace(/_/g, " ")}</text>
          </g>
        );
      })}
    </svg>
  );
}
