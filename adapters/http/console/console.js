// The console: pick an agent of the token's tenant, chat with it over the
// streaming endpoint, and read why each reply was given.

import { Api, ApiError } from "./api.js";
import { h, renderTurn } from "./explain.js";

const $ = (id) => document.getElementById(id);
const ui = {
  auth: $("auth"), token: $("token"), agent: $("agent"), restart: $("restart"), status: $("status"),
  transcript: $("transcript"), composer: $("composer"), message: $("message"), send: $("send"),
  panel: $("explanation"),
};

const state = {
  api: null,
  agent: null, // the selected agent as listed
  scenarios: new Map(), // the agent's scenarios by id
  scenariosVersion: 0, // the agent version they were read at
  sessionId: "",
  user: "",
  variables: new Map(), // turn id -> session variables before that turn
  lastVariables: null,
  busy: false,
};

function say(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = kind;
}

function problem(err) {
  if (err instanceof ApiError) {
    const fields = err.details.map((d) => `${d.field}: ${d.message}`).join("; ");
    return `${err.code}: ${err.message}${fields ? " (" + fields + ")" : ""}`;
  }
  return String(err && err.message ? err.message : err);
}

// The token can arrive in the URL fragment (make run prints such a link);
// it is taken out of the address bar at once so it stays out of history.
function tokenFromLocation() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) history.replaceState(null, "", location.pathname + location.search);
  return token || sessionStorage.getItem("focal.token") || "";
}

async function connect(token) {
  state.api = new Api(token);
  sessionStorage.setItem("focal.token", token);
  say("Loading agents…");
  try {
    const agents = await state.api.all("/v1/agents");
    ui.agent.replaceChildren(...agents.map((a) =>
      h("option", { value: a.id, disabled: !a.enabled }, `${a.name} (${a.id.slice(0, 8)}…)${a.enabled ? "" : " — disabled"}`)));
    ui.agent.disabled = agents.length === 0;
    state.agents = new Map(agents.map((a) => [a.id, a]));
    if (agents.length === 0) {
      say("This tenant has no agents yet: import a bundle first.", "error");
      return;
    }
    const first = agents.find((a) => a.enabled) || agents[0];
    ui.agent.value = first.id;
    await selectAgent(first.id);
    say(`Connected: ${agents.length} agent${agents.length === 1 ? "" : "s"}.`, "ok");
  } catch (err) {
    say(err instanceof ApiError && err.status === 401 ? "The token was refused: " + problem(err) : problem(err), "error");
  }
}

async function loadScenarios() {
  const agent = await state.api.get(`/v1/agents/${state.agent.id}`);
  const scenarios = await state.api.all(`/v1/agents/${state.agent.id}/scenarios`);
  state.scenarios = new Map(scenarios.map((s) => [s.id, s]));
  state.scenariosVersion = agent.version;
}

async function selectAgent(id) {
  state.agent = state.agents.get(id);
  restart();
  await loadScenarios();
  ui.message.disabled = ui.send.disabled = ui.restart.disabled = false;
  ui.message.focus();
}

// restart begins a new conversation: a fresh channel identity opens a new
// session on the next message.
function restart() {
  state.sessionId = "";
  state.user = "console-" + crypto.randomUUID().slice(0, 8);
  state.lastVariables = null;
  ui.transcript.replaceChildren();
  ui.panel.replaceChildren(h("p", { class: "hint" }, "Send a message; its explanation shows here."));
}

function bubble(role, text) {
  const li = h("li", { class: "bubble " + role }, h("div", { class: "text" }, text));
  ui.transcript.append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

async function send(message) {
  if (state.busy || !message.trim()) return;
  state.busy = true;
  ui.send.disabled = true;
  bubble("user", message);
  const reply = bubble("agent", "");
  const text = reply.querySelector(".text");
  reply.dataset.state = "streaming";
  reply.dataset.tokens = "0";
  const body = { agent_id: state.agent.id, channel: "console", user_channel_id: state.user, message };
  if (state.sessionId) body.session_id = state.sessionId;
  try {
    for await (const ev of state.api.stream(body)) {
      if (ev.event === "token") {
        text.textContent += ev.data.content;
        reply.dataset.tokens = String(Number(reply.dataset.tokens) + 1);
        reply.scrollIntoView({ block: "end" });
      } else if (ev.event === "done") {
        finish(reply, ev.data);
      } else if (ev.event === "error") {
        reply.dataset.state = "error";
        reply.append(h("div", { class: "meta error" }, `${ev.data.code}: ${ev.data.message}`));
      }
    }
    if (reply.dataset.state === "streaming") {
      reply.dataset.state = "error";
      reply.append(h("div", { class: "meta error" }, "The stream ended without a done event."));
    }
  } catch (err) {
    reply.dataset.state = "error";
    reply.append(h("div", { class: "meta error" }, problem(err)));
  } finally {
    state.busy = false;
    ui.send.disabled = false;
  }
  if (reply.dataset.turn) await showTurn(reply.dataset.turn);
}

function finish(reply, done) {
  reply.dataset.state = "done";
  reply.dataset.turn = done.turn_id;
  state.sessionId = done.session_id;
  state.variables.set(done.turn_id, state.lastVariables);
  const where = done.scenario ? `${done.scenario.id} › ${done.scenario.step}` : "no scenario";
  reply.append(h("div", { class: "meta" },
    h("span", { class: "chip" }, where),
    ...done.matched_rules.map((r) => h("span", { class: "chip rule" }, r)),
    ...done.tools_called.map((t) => h("span", { class: "chip tool" }, "tool " + t)),
    h("span", { class: "chip" }, `${done.latency_ms} ms`)));
  reply.title = "Show why";
  reply.addEventListener("click", () => showTurn(done.turn_id));
}

async function showTurn(turnId) {
  try {
    const turn = await state.api.get(`/v1/turns/${turnId}`);
    if (turn.agent_version !== state.scenariosVersion) await loadScenarios();
    if (turn.session_after && ui.transcript.lastElementChild?.dataset.turn === turnId) {
      state.lastVariables = turn.session_after.variables || {};
    }
    renderTurn(ui.panel, turn, { scenarios: state.scenarios, previousVariables: state.variables.get(turnId) });
    for (const b of ui.transcript.querySelectorAll(".bubble.agent")) b.classList.toggle("selected", b.dataset.turn === turnId);
  } catch (err) {
    ui.panel.replaceChildren(h("p", { class: "error" }, "The turn record could not be read: " + problem(err)));
  }
}

ui.auth.addEventListener("submit", (e) => {
  e.preventDefault();
  if (ui.token.value.trim()) connect(ui.token.value.trim());
});
ui.agent.addEventListener("change", () => selectAgent(ui.agent.value).catch((err) => say(problem(err), "error")));
ui.restart.addEventListener("click", restart);
ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const message = ui.message.value;
  ui.message.value = "";
  send(message);
});
ui.message.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});

const initial = tokenFromLocation();
if (initial) {
  ui.token.value = initial;
  connect(initial);
}
