// Renders a turn record (GET /v1/turns/{id}) as the reasons for a reply.
// Known parts get their own view (score bars, the scenario drawing, timing
// bars); every other field, including ones added to the record later, is
// shown by the generic renderer, so nothing the record says is hidden.

import { drawScenario } from "./flow.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const words = (key) => key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

function number(n) {
  return Number.isInteger(n) ? String(n) : n.toFixed(Math.abs(n) < 1 ? 3 : 2);
}

// value renders any JSON value: objects as definition lists, lists of
// objects as tables, other lists inline.
export function value(v) {
  if (v === null || v === undefined) return h("span", { class: "none" }, "none");
  if (typeof v === "number") return h("span", { class: "num" }, number(v));
  if (typeof v === "boolean") return h("span", { class: "bool" }, v ? "yes" : "no");
  if (typeof v === "string") return v === "" ? h("span", { class: "none" }, "empty") : h("span", { class: "str" }, v);
  if (Array.isArray(v)) {
    if (v.length === 0) return h("span", { class: "none" }, "none");
    if (v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x))) return table(v);
    return h("span", { class: "list" }, v.map((x, i) => [i ? ", " : "", value(x)]));
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return h("span", { class: "none" }, "none");
  return h("dl", { class: "fields" }, keys.map((k) => [h("dt", {}, words(k)), h("dd", { "data-field": k }, value(v[k]))]));
}

function table(rows) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return h("table", {},
    h("thead", {}, h("tr", {}, keys.map((k) => h("th", {}, words(k))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, keys.map((k) => h("td", {}, k in r ? value(r[k]) : ""))))));
}

function part(key, title, ...content) {
  return h("section", { class: "part", "data-part": key }, h("h3", {}, title), ...content);
}

// bar is a horizontal bar for a share 0..1; width is set through the CSSOM,
// which the console's Content-Security-Policy allows (style attributes it
// does not).
function bar(share, cls) {
  const fill = h("span", { class: "fill" });
  fill.style.width = Math.max(0, Math.min(1, share)) * 100 + "%";
  return h("span", { class: "bar " + cls, "data-value": share }, fill);
}

// candidates shows each scored rule's score as a bar; every other numeric
// part of a candidate in 0..1 (lexical, semantic, whatever the matcher adds)
// gets a thin bar of its own, and the remaining fields are listed beside it.
function candidates(list) {
  if (!list || list.length === 0) return h("p", { class: "none" }, "No rule was a candidate.");
  return h("ol", { class: "candidates" }, list.map((c) => {
    const parts = Object.entries(c).filter(([k, v]) => k !== "score" && typeof v === "number" && v >= 0 && v <= 1 && k !== "priority");
    const rest = Object.entries(c).filter(([k, v]) => !["rule_id", "score", "matched"].includes(k) && !parts.some(([p]) => p === k));
    return h("li", { class: "candidate" + (c.matched ? " matched" : ""), "data-rule": c.rule_id, "data-score": c.score },
      h("div", { class: "row" },
        h("span", { class: "label" }, c.rule_id, c.matched ? h("span", { class: "tag" }, "matched") : ""),
        bar(c.score, "score"), h("span", { class: "num" }, number(c.score))),
      parts.map(([k, v]) => h("div", { class: "row sub", "data-part": k },
        h("span", { class: "label" }, words(k)), bar(v, "component"), h("span", { class: "num" }, number(v)))),
      rest.length ? h("div", { class: "rest" }, rest.map(([k, v]) => h("span", { class: "chip" }, words(k) + ": ", value(v)))) : "");
  }));
}

function matched(list) {
  if (!list || list.length === 0) return h("p", { class: "none" }, "No rule matched.");
  return h("ol", { class: "matched" }, list.map((m) =>
    h("li", { "data-rule": m.rule_id }, h("code", {}, m.rule_id), " ",
      ...Object.entries(m).filter(([k]) => k !== "rule_id").map(([k, v]) => h("span", { class: "chip" }, words(k) + ": ", value(v))))));
}

// scenario draws the scenario the turn was in before and after, marking
// both steps and the transition taken; the decision's fields follow.
function scenario(decision, scenarios) {
  if (!decision) return h("p", { class: "none" }, "No scenario decision.");
  const before = decision.before || null;
  const after = decision.after || null;
  const drawings = [];
  const ids = [...new Set([before && before.id, after && after.id].filter(Boolean))];
  for (const id of ids) {
    const def = scenarios.get(id);
    if (!def) {
      drawings.push(h("p", { class: "none" }, `Scenario ${id} is not in the agent's current version.`));
      continue;
    }
    const mark = {
      before: before && before.id === id ? before.step : undefined,
      after: after && after.id === id ? after.step : undefined,
    };
    if (decision.transition && before && after && before.id === id && after.id === id) {
      mark.taken = { from: before.step, to: decision.transition.to };
    }
    drawings.push(h("figure", {}, drawScenario(def, mark),
      h("figcaption", {}, `${def.name || def.id}: `, mark.before ? `was at ${mark.before}` : "entered",
        mark.after ? `, now at ${mark.after}` : ", left the scenario")));
  }
  if (ids.length === 0) drawings.push(h("p", { class: "none" }, "No scenario was active before or after this turn."));
  return [h("div", { class: "drawings" }, drawings), value(decision)];
}

function timings(list, latency) {
  const rows = list || [];
  const longest = Math.max(...rows.map((t) => t.duration_ms), 0.001);
  return h("div", {},
    h("ol", { class: "timings" }, rows.map((t) => h("li", { "data-step": t.step },
      h("span", { class: "label" }, t.step), bar(t.duration_ms / longest, "time"), h("span", { class: "num" }, number(t.duration_ms) + " ms")))),
    h("p", {}, "Whole turn: ", h("strong", {}, (latency ?? "?") + " ms")));
}

// variables lists the session's variables after the turn and marks the ones
// this turn set or changed; the record's account of each variable the turn
// set or refused (explanation.variables: by whom, from what text) follows.
function variables(turn, previous, extractions) {
  const now = (turn.session_after && turn.session_after.variables) || {};
  const keys = Object.keys(now);
  const list = keys.length === 0 ? h("p", { class: "none" }, "The session has no variables.") :
    h("dl", { class: "fields variables" }, keys.map((k) => {
      const changed = !previous || JSON.stringify(previous[k]) !== JSON.stringify(now[k]);
      return [h("dt", { class: changed ? "changed" : "" }, k, changed ? h("span", { class: "tag" }, "set") : ""), h("dd", {}, value(now[k]))];
    }));
  if (!extractions || extractions.length === 0) return list;
  return [list, h("h4", {}, "Read in this turn"), value(extractions)];
}

const explanationViews = {
  candidates: ["Candidates", (v) => candidates(v)],
  matched: ["Matched rules", (v) => matched(v)],
  filtered: ["Rules in scope that could not fire", (v) => value(v)],
  scenario: ["Scenario", (v, ctx) => scenario(v, ctx.scenarios)],
  tool_calls: ["Tools called", (v) => value(v)],
  enforcement: ["Enforcement", (v) => value(v)],
  generation: ["Generation", (v) => value(v)],
  retrieval: ["Retrieval", (v) => value(v)],
};

// Turn fields shown elsewhere in the panel or not worth showing.
const shownTurnFields = new Set(["id", "tenant_id", "agent_id", "session_id", "request_id", "message", "response",
  "explanation", "timings", "latency_ms", "session_after", "deltas", "turn_number", "status", "usage", "model",
  "agent_version", "created_at"]);

// renderTurn fills panel with the explanation of turn. ctx carries the
// agent's scenarios by id and the variables before the turn (if known).
export function renderTurn(panel, turn, ctx) {
  const ex = turn.explanation || {};
  const usage = turn.usage || {};
  const head = h("header", { class: "turn-head" },
    h("h2", {}, `Turn ${turn.turn_number}`),
    h("p", {}, h("span", { class: "chip status-" + turn.status }, turn.status),
      h("span", { class: "chip" }, `${turn.latency_ms} ms`),
      h("span", { class: "chip" }, `${(usage.prompt_tokens || 0) + (usage.completion_tokens || 0)} tokens`),
      turn.model ? h("span", { class: "chip" }, turn.model) : "",
      h("span", { class: "chip" }, `agent v${turn.agent_version}`)),
    h("blockquote", { class: "said" }, turn.message),
    h("blockquote", { class: "reply" }, turn.response));

  const order = ["candidates", "matched", "filtered", "scenario", "tool_calls", "enforcement", "generation", "retrieval"];
  // explanation.variables is shown in the session's Variables part.
  const keys = [...order.filter((k) => k in ex), ...Object.keys(ex).filter((k) => !order.includes(k) && k !== "variables")];
  const sections = keys.map((k) => {
    const [title, view] = explanationViews[k] || [words(k), (v) => value(v)];
    return part(k, title, view(ex[k], ctx));
  });
  sections.splice(Math.min(4, sections.length), 0, part("variables", "Variables", variables(turn, ctx.previousVariables, ex.variables)));
  sections.push(part("timings", "Timings", timings(turn.timings, turn.latency_ms)));
  const other = Object.fromEntries(Object.entries(turn).filter(([k]) => !shownTurnFields.has(k)));
  if (Object.keys(other).length) sections.push(part("more", "More", value(other)));
  const raw = h("details", { class: "raw" }, h("summary", {}, "The turn record as JSON"),
    h("pre", {}, JSON.stringify(turn, null, 2)));
  panel.replaceChildren(head, ...sections, raw);
  panel.dataset.turn = turn.id;
}
