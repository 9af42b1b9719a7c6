// Draws a scenario's steps and transitions as SVG: steps in columns by
// their distance from the entry step, transitions as arrows, the step the
// turn left dashed, the step it reached filled, the transition it took bold.

const SVG = "http://www.w3.org/2000/svg";
const W = 150, H = 46, GAP_X = 64, GAP_Y = 26, PAD = 24;
let drawings = 0; // keeps each drawing's marker id unique in the page

function el(name, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

function title(text) {
  const t = el("title");
  t.textContent = text;
  return t;
}

// layout places each step: column = shortest distance from the entry step
// (unreachable steps go last), row = order of appearance in its column.
function layout(scenario) {
  const steps = scenario.steps || [];
  const byId = new Map(steps.map((s) => [s.id, s]));
  const column = new Map();
  const queue = byId.has(scenario.entry_step_id) ? [scenario.entry_step_id] : [];
  if (queue.length) column.set(queue[0], 0);
  while (queue.length) {
    const id = queue.shift();
    for (const t of byId.get(id).transitions || []) {
      if (byId.has(t.to) && !column.has(t.to)) {
        column.set(t.to, column.get(id) + 1);
        queue.push(t.to);
      }
    }
  }
  let last = Math.max(-1, ...column.values());
  for (const s of steps) if (!column.has(s.id)) column.set(s.id, ++last);
  const rows = new Map();
  const pos = new Map();
  for (const s of steps) {
    const c = column.get(s.id);
    const r = rows.get(c) || 0;
    rows.set(c, r + 1);
    pos.set(s.id, { x: PAD + 18 + c * (W + GAP_X), y: PAD + r * (H + GAP_Y) });
  }
  const width = PAD * 2 + 18 + (Math.max(0, ...column.values()) + 1) * (W + GAP_X) - GAP_X;
  const height = PAD * 2 + Math.max(1, ...rows.values()) * (H + GAP_Y) - GAP_Y + 40;
  return { pos, width, height };
}

function edgePath(a, b, from, to) {
  if (from === to) { // a loop above the step
    const x = a.x + W / 2, y = a.y;
    return `M ${x - 14} ${y} C ${x - 30} ${y - 34}, ${x + 30} ${y - 34}, ${x + 14} ${y}`;
  }
  if (b.x > a.x) { // forward: right side to left side
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    const mid = (x1 + x2) / 2;
    return `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`;
  }
  // backward or within a column: under the steps
  const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y + H;
  const low = Math.max(y1, y2) + 36;
  return `M ${x1} ${y1} C ${x1} ${low}, ${x2} ${low}, ${x2} ${y2}`;
}

// drawScenario returns an <svg> of scenario. mark says what the turn did:
// {before, after} step ids of this scenario (either may be absent) and
// taken = {from, to} when a transition was taken.
export function drawScenario(scenario, mark = {}) {
  const { pos, width, height } = layout(scenario);
  const arrow = "arrow-" + ++drawings;
  const svg = el("svg", {
    class: "flow", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "data-scenario": scenario.id,
    "aria-label": `Scenario ${scenario.id}: ${(scenario.steps || []).length} steps`,
  });
  svg.append(el("defs", {},
    el("marker", { id: arrow, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" },
      el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));

  const entry = pos.get(scenario.entry_step_id);
  if (entry) {
    svg.append(el("path", { class: "edge entry", d: `M ${PAD - 8} ${entry.y + H / 2} L ${entry.x} ${entry.y + H / 2}`, "marker-end": `url(#${arrow})` }));
  }
  for (const step of scenario.steps || []) {
    for (const t of step.transitions || []) {
      if (!pos.has(t.to)) continue;
      const taken = mark.taken && mark.taken.from === step.id && mark.taken.to === t.to;
      const path = el("path", {
        class: "edge" + (taken ? " taken" : ""), d: edgePath(pos.get(step.id), pos.get(t.to), step.id, t.to),
        "marker-end": `url(#${arrow})`, "data-from": step.id, "data-to": t.to,
      }, title(`${step.id} → ${t.to} when: ${t.condition}` + (t.priority ? ` (priority ${t.priority})` : "")));
      svg.append(path);
    }
  }
  for (const step of scenario.steps || []) {
    const p = pos.get(step.id);
    const classes = ["step"];
    if (step.terminal) classes.push("terminal");
    if (step.id === mark.before) classes.push("before");
    if (step.id === mark.after) classes.push("current");
    const g = el("g", { class: classes.join(" "), "data-step": step.id, transform: `translate(${p.x} ${p.y})` },
      title([step.name || step.id, step.instructions].filter(Boolean).join("\n")),
      el("rect", { width: W, height: H, rx: 8 }));
    if (step.terminal) g.append(el("rect", { class: "inner", x: 3, y: 3, width: W - 6, height: H - 6, rx: 6 }));
    const label = el("text", { x: W / 2, y: step.name ? 19 : H / 2 + 5, "text-anchor": "middle", class: "id" });
    label.textContent = step.id;
    g.append(label);
    if (step.name) {
      const name = el("text", { x: W / 2, y: 35, "text-anchor": "middle", class: "name" });
      name.textContent = step.name.length > 22 ? step.name.slice(0, 21) + "…" : step.name;
      g.append(name);
    }
    svg.append(g);
  }
  return svg;
}
