// Package browser drives the operator console (/console) in a real headless
// Chromium, as an operator would use it, against the real service with a
// fake model streaming over HTTP. Screenshots of each step are kept as test
// artifacts (harness.ArtifactsDir).
package browser

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
	"focal/test/harness"
)

// chromiumPath finds the Debian package's browser; make test installs it
// (scripts/install-browser.sh), so a missing one fails instead of skipping.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on PATH: run scripts/install-browser.sh (apt-get install chromium)")
	return ""
}

// modelReply is what the fake model streams, one word per delta.
const modelReply = "Standard shipping takes 3-5 business days, and express shipping arrives in 1-2 business days."

// consolePage is the console open in a browser tab, with what the page
// logged as an error.
type consolePage struct {
	t         *testing.T
	ctx       context.Context
	app       *harness.App
	token     string
	artifacts string

	mu       sync.Mutex
	problems []string
}

// refundPromise is what the fake model answers a question about refunds:
// it breaks the demo agent's hard rule no_refund_promises.
const refundPromise = "Good news: you get a guaranteed refund within 24 hours."

// openConsole opens the console through the `#token=` link `make run`
// prints, with a demo tenant admin's token.
func openConsole(t *testing.T) *consolePage {
	t.Helper()
	p := startConsole(t)
	// The token arrives in the fragment, as `make run` prints the link.
	p.do(chromedp.Navigate(p.app.URL + "/console#token=" + p.token))
	p.waitFor(`!document.getElementById("message").disabled`)
	assert.Equal(t, p.app.URL+"/console", p.eval(`location.href`), "the token leaves the address bar")
	assert.Equal(t, harness.DemoAgent, p.eval(`document.getElementById("agent").value`))
	return p
}

// startConsole starts the service and a browser tab that has not opened
// the console yet.
func startConsole(t *testing.T) *consolePage {
	t.Helper()
	fake := fakellm.New(fakellm.WithResponder(func(r fakellm.Request) fakellm.Reply {
		if strings.Contains(string(r.RawBody), "When will I get my refund?") {
			return fakellm.Reply{Text: refundPromise}
		}
		return fakellm.Reply{Text: modelReply, TokenInterval: 15 * time.Millisecond}
	}))
	fake.Start()
	t.Cleanup(fake.Close)
	app := harness.Start(t, map[string]string{
		"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "fake-model", "FOCAL_LLM_API_KEY": "test-key",
		"FOCAL_LLM_BASE_URL": fake.URL() + "/v1", "FOCAL_LLM_MAX_RETRIES": "0",
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 1000))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	require.NoError(t, chromedp.Do(ctx), "start Chromium")

	p := &consolePage{t: t, ctx: ctx, app: app, token: harness.Token(t, harness.DemoTenant, "admin"),
		artifacts: harness.ArtifactsDir(t, "browser")}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return // the tab closed
			}
			if m.IsException() || m.Type == "error" {
				p.mu.Lock()
				p.problems = append(p.problems, m.String())
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		assert.Empty(t, p.problems, "the console logged errors (script exceptions, Content-Security-Policy violations, failed loads)")
	})
	return p
}

func (p *consolePage) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	require.NoError(p.t, chromedp.Do(ctx, actions...))
}

func (p *consolePage) eval(expr string) string {
	p.t.Helper()
	var out string
	p.evalInto(expr, &out)
	return out
}

// evalInto evaluates expr in the page and decodes its JSON value into v.
func (p *consolePage) evalInto(expr string, v any) {
	p.t.Helper()
	raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]byte](expr))
	require.NoError(p.t, err, "evaluate %s", expr)
	require.NoError(p.t, json.Unmarshal(raw, v), "decode %s", raw)
}

// waitFor waits, on every change of the page, until expr is truthy.
func (p *consolePage) waitFor(expr string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(p.t, err, "waiting for %s", expr)
}

func (p *consolePage) screenshot(name, selector string) {
	p.t.Helper()
	var png []byte
	var err error
	if selector == "" {
		png, err = chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	} else {
		// The explanation scrolls on its own: bring the part into view first.
		p.eval(`(document.querySelector(` + strconvQuote(selector) + `).scrollIntoView(), "")`)
		png, err = chromedp.Run(p.ctx, chromedp.Screenshot(chromedp.CSS(selector)))
	}
	require.NoError(p.t, err)
	path := filepath.Join(p.artifacts, name)
	require.NoError(p.t, os.WriteFile(path, png, 0o644))
	p.t.Logf("screenshot: %s", path)
}

// lastReply is the newest agent bubble.
const lastReply = `[...document.querySelectorAll("#transcript .bubble.agent")].pop()`

// send types message, sends it, and waits for the reply's stream to end;
// it returns the texts the reply showed while it was streaming.
func (p *consolePage) send(message string) (turnID string, whileStreaming []string) {
	p.t.Helper()
	// Record the reply's text at every change of the page while it streams.
	p.eval(`(() => {
		window.seen = [];
		new MutationObserver(() => {
			const b = ` + lastReply + `;
			if (b && b.dataset.state === "streaming") window.seen.push(b.querySelector(".text").textContent);
		}).observe(document.getElementById("transcript"), {subtree: true, childList: true, characterData: true, attributes: true});
		return "";
	})()`)
	before := p.eval(`String(document.querySelectorAll("#transcript .bubble.agent").length)`)
	p.do(chromedp.SendKeys(chromedp.ID("message"), message), chromedp.Click(chromedp.ID("send")))
	p.waitFor(`document.querySelectorAll("#transcript .bubble.agent").length > ` + before + ` && ` + lastReply + `.dataset.state !== "streaming"`)
	require.Equal(p.t, "done", p.eval(lastReply+`.dataset.state`), "the reply ends with a done event: %s", p.eval(lastReply+`.textContent`))
	p.evalInto(`window.seen`, &whileStreaming)
	return p.eval(lastReply + `.dataset.turn`), whileStreaming
}

// turn reads the turn record through the API, as the console does.
func (p *consolePage) turn(id string) map[string]any {
	p.t.Helper()
	res := p.app.Do(p.t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + id, Token: p.token})
	require.Equal(p.t, http.StatusOK, res.Status, "%s", res.Body)
	var turn map[string]any
	res.JSON(p.t, &turn)
	return turn
}

func TestConsole(t *testing.T) {
	p := openConsole(t)

	// A streamed turn: the model's words appear one after another, and the
	// text that stays is the turn's response.
	turnID, seen := p.send("How long does shipping take?")
	turn := p.turn(turnID)
	final := p.eval(lastReply + `.querySelector(".text").textContent`)
	assert.Equal(t, turn["response"], final, "the streamed text is the recorded response")
	assert.Equal(t, modelReply, final)
	var partial int
	for _, text := range seen {
		require.True(t, strings.HasPrefix(final, text), "text shown while streaming is a prefix of the reply: %q", text)
		if text != "" && text != final {
			partial++
		}
	}
	assert.Positive(t, partial, "the reply showed partial text before the stream ended")
	assert.Greater(t, atoi(t, p.eval(lastReply+`.dataset.tokens`)), 1, "several token events")
	p.screenshot("1-streamed-turn.png", "")
	p.waitFor(`document.getElementById("explanation").dataset.turn === "` + turnID + `"`)
	assert.Equal(t, "model", p.eval(`document.querySelector('#explanation [data-part="generation"] [data-field="source"]').textContent`),
		"the explanation says the model wrote the reply")

	// The explanation of a turn several rules competed for: a bar per
	// candidate, as long as its score, and the matched rules listed. Three
	// questions, so that three rules score well clear of the candidates'
	// floor (a greeting alongside two questions scored 0.011 there, and a
	// rule added to the demo took it under).
	turnID, _ = p.send("What is your return policy? How long does shipping take? When are you open?")
	p.waitFor(`document.getElementById("explanation").dataset.turn === "` + turnID + `"`)
	ex := p.turn(turnID)["explanation"].(map[string]any)
	var bars []struct {
		Rule    string  `json:"rule"`
		Score   float64 `json:"score"`
		Share   float64 `json:"share"`
		Matched bool    `json:"matched"`
	}
	p.evalInto(`[...document.querySelectorAll("#explanation .candidate")].map(c => {
		const bar = c.querySelector(".bar.score");
		return {rule: c.dataset.rule, score: Number(c.dataset.score), matched: c.classList.contains("matched"),
			share: bar.querySelector(".fill").getBoundingClientRect().width / bar.clientWidth};
	})`, &bars)
	candidates := ex["candidates"].([]any)
	require.GreaterOrEqual(t, len(candidates), 3, "several rules compete for this message: %v", candidates)
	require.Len(t, bars, len(candidates), "one bar per candidate")
	scores := map[float64]bool{}
	for i, c := range candidates {
		c := c.(map[string]any)
		scores[c["score"].(float64)] = true
		assert.Equal(t, c["rule_id"], bars[i].Rule)
		assert.InDelta(t, c["score"], bars[i].Score, 1e-9)
		assert.InDelta(t, c["score"], bars[i].Share, 0.02, "the bar of %s is as long as its score", bars[i].Rule)
		assert.Equal(t, c["matched"], bars[i].Matched)
	}
	assert.Greater(t, len(scores), 1, "the bars differ: %v", candidates)
	var listed, matched []string
	p.evalInto(`[...document.querySelectorAll("#explanation .matched li")].map(li => li.dataset.rule)`, &listed)
	for _, m := range ex["matched"].([]any) {
		matched = append(matched, m.(map[string]any)["rule_id"].(string))
	}
	require.NotEmpty(t, matched, "the returns policy matches")
	assert.Equal(t, matched, listed, "the matched rules are listed in order")
	p.screenshot("2-explanation.png", "#explanation")

	turnID, _ = p.send("Hi! I want to return my jacket")
	p.waitFor(`document.getElementById("explanation").dataset.turn === "` + turnID + `"`)
	require.Equal(t, "start", p.turn(turnID)["explanation"].(map[string]any)["scenario"].(map[string]any)["action"], "the returns flow starts")

	// A scenario drawn: the returns message started the flow, the order
	// number moves it on, and the drawing marks the step it left, the one it
	// reached and the transition between them.
	turnID, _ = p.send("My order number is AC-123456")
	p.waitFor(`document.getElementById("explanation").dataset.turn === "` + turnID + `"`)
	record := p.turn(turnID)
	decision := record["explanation"].(map[string]any)["scenario"].(map[string]any)
	require.Equal(t, "advance", decision["action"], "%v", decision)
	var drawn struct {
		Steps   []string `json:"steps"`
		Edges   int      `json:"edges"`
		Current []string `json:"current"`
		Before  []string `json:"before"`
		Taken   []string `json:"taken"`
	}
	p.evalInto(`(() => {
		const svg = document.querySelector('#explanation svg.flow[data-scenario="returns"]');
		const ids = (sel) => [...svg.querySelectorAll(sel)].map(n => n.dataset.step);
		return {steps: ids(".step"), edges: svg.querySelectorAll(".edge:not(.entry)").length,
			current: ids(".step.current"), before: ids(".step.before"),
			taken: [...svg.querySelectorAll(".edge.taken")].map(e => e.dataset.from + ">" + e.dataset.to)};
	})()`, &drawn)
	assert.Equal(t, []string{"ask_order", "ask_reason", "confirm"}, drawn.Steps, "every step of the scenario is drawn")
	assert.Equal(t, 2, drawn.Edges, "every transition is drawn")
	after := decision["after"].(map[string]any)["step"].(string)
	assert.Equal(t, "ask_reason", after)
	assert.Equal(t, []string{after}, drawn.Current, "the step reached is highlighted")
	assert.Equal(t, []string{decision["before"].(map[string]any)["step"].(string)}, drawn.Before, "the step left is marked")
	assert.Equal(t, []string{"ask_order>ask_reason"}, drawn.Taken, "the transition taken is marked")
	p.screenshot("3-scenario.png", `#explanation [data-part="scenario"]`)

	// The session's variables, in one part: the order number the turn read
	// is shown and marked as set, with the record's account of reading it.
	require.Equal(t, "AC-123456", record["session_after"].(map[string]any)["variables"].(map[string]any)["order_id"])
	var vars struct {
		Parts    int      `json:"parts"`
		Session  string   `json:"session"`
		Set      []string `json:"set"`
		ReadRows []string `json:"readRows"`
	}
	p.evalInto(`(() => {
		const part = document.querySelector('#explanation [data-part="variables"]');
		return {parts: document.querySelectorAll('#explanation [data-part="variables"]').length,
			session: part.querySelector("dl.variables").textContent,
			set: [...part.querySelectorAll("dl.variables dt.changed")].map(dt => dt.firstChild.textContent),
			readRows: [...part.querySelectorAll("tbody tr")].map(tr => tr.textContent)};
	})()`, &vars)
	assert.Equal(t, 1, vars.Parts, "one part shows the variables")
	assert.Contains(t, vars.Session, "AC-123456")
	assert.Equal(t, []string{"order_id"}, vars.Set, "the variable this turn set is marked")
	read := record["explanation"].(map[string]any)["variables"].([]any)
	require.Len(t, vars.ReadRows, len(read), "a row per variable the turn read: %v", read)
	for i, r := range read {
		r := r.(map[string]any)
		for _, k := range []string{"variable", "source", "text"} {
			assert.Contains(t, vars.ReadRows[i], r[k], "the row shows the %s", k)
		}
	}
	p.screenshot("4-variables.png", `#explanation [data-part="variables"]`)

	// The reason ends the flow in confirm, whose entry calls the order
	// lookup. Nothing serves it here, so the record holds a failed call; the
	// console shows a row per call with what the record says of it, and a
	// row per step timing with a bar as long as its share of the longest.
	turnID, _ = p.send("It is too tight")
	p.waitFor(`document.getElementById("explanation").dataset.turn === "` + turnID + `"`)
	record = p.turn(turnID)
	calls := record["explanation"].(map[string]any)["tool_calls"].([]any)
	require.Len(t, calls, 1, "confirm's entry calls the order lookup: %v", calls)
	var rows []string
	p.evalInto(`[...document.querySelectorAll('#explanation [data-part="tool_calls"] tbody tr')].map(tr => tr.textContent)`, &rows)
	require.Len(t, rows, len(calls), "one row per tool call")
	call := calls[0].(map[string]any)
	for _, k := range []string{"tool_id", "step", "error"} {
		require.NotEmpty(t, call[k], "the call's %s: %v", k, call)
		assert.Contains(t, rows[0], call[k], "the row shows the call's %s", k)
	}
	assert.Contains(t, rows[0], "AC-123456", "the row shows the call's input")
	p.screenshot("5-tools.png", `#explanation [data-part="tool_calls"]`)

	var timings []struct {
		Step  string  `json:"step"`
		Share float64 `json:"share"`
	}
	p.evalInto(`[...document.querySelectorAll('#explanation [data-part="timings"] li')].map(li =>
		({step: li.dataset.step, share: Number(li.querySelector(".bar").dataset.value)}))`, &timings)
	recorded := record["timings"].([]any)
	require.Greater(t, len(recorded), 3, "the record times each step: %v", recorded)
	require.Len(t, timings, len(recorded), "one row per timing")
	longest := 0.001
	for _, r := range recorded {
		longest = math.Max(longest, r.(map[string]any)["duration_ms"].(float64))
	}
	for i, r := range recorded {
		r := r.(map[string]any)
		assert.Equal(t, r["step"], timings[i].Step)
		assert.InDelta(t, r["duration_ms"].(float64)/longest, timings[i].Share, 1e-9, "the bar of %s", r["step"])
	}
	p.screenshot("6-timings.png", `#explanation [data-part="timings"]`)

	// Enforcement: the model promises a guaranteed refund, which the hard
	// rule no_refund_promises forbids; the part shows each field of the
	// record's enforcement and a row per violation.
	turnID, _ = p.send("When will I get my refund?")
	p.waitFor(`document.getElementById("explanation").dataset.turn === "` + turnID + `"`)
	enforcement := p.turn(turnID)["explanation"].(map[string]any)["enforcement"].(map[string]any)
	violations := enforcement["violations"].([]any)
	require.NotEmpty(t, violations, "the promise breaks a constraint: %v", enforcement)
	assert.NotContains(t, p.eval(lastReply+`.textContent`), "guaranteed refund", "the broken reply is not shown")
	var shown struct {
		Fields     map[string]string `json:"fields"`
		Violations []string          `json:"violations"`
	}
	p.evalInto(`(() => {
		const part = document.querySelector('#explanation [data-part="enforcement"]');
		return {fields: Object.fromEntries([...part.querySelectorAll(":scope > dl > dd")].map(dd => [dd.dataset.field, dd.textContent])),
			violations: [...part.querySelectorAll('[data-field="violations"] tbody tr')].map(tr => tr.textContent)};
	})()`, &shown)
	require.Len(t, shown.Fields, len(enforcement), "every field of the enforcement is shown: %v", shown.Fields)
	yesNo := map[bool]string{true: "yes", false: "no"}
	assert.Equal(t, yesNo[enforcement["fallback"].(bool)], shown.Fields["fallback"])
	assert.Equal(t, yesNo[enforcement["refused"].(bool)], shown.Fields["refused"])
	assert.Equal(t, strconv.Itoa(int(enforcement["regenerations"].(float64))), shown.Fields["regenerations"])
	assert.Equal(t, "no_refund_promises", shown.Fields["rules"])
	require.Len(t, shown.Violations, len(violations), "one row per violation")
	for i, v := range violations {
		v := v.(map[string]any)
		for _, k := range []string{"rule_id", "kind", "value", "stage"} {
			assert.Contains(t, shown.Violations[i], v[k], "the row shows the violation's %s", k)
		}
	}
	p.screenshot("7-enforcement.png", `#explanation [data-part="enforcement"]`)

	// Fields the console has no view for are listed as they are. The
	// console sends no metadata, so its records have none and nothing is
	// listed; a chat request made with metadata (added here to the page's
	// next request) records it on the turn, and More lists it.
	assert.Equal(t, "0", p.eval(`String(document.querySelectorAll('#explanation [data-part="more"]').length)`),
		"every field of the record has a view")
	p.eval(`(() => {
		const fetch0 = window.fetch;
		window.fetch = (url, init) => {
			if (url === "/v1/chat/stream") init = {...init, body: JSON.stringify({...JSON.parse(init.body), metadata: {tier: "gold"}})};
			return fetch0.call(window, url, init);
		};
		return "";
	})()`)
	turnID, _ = p.send("How long does shipping take?")
	p.waitFor(`document.getElementById("explanation").dataset.turn === "` + turnID + `"`)
	require.Equal(t, map[string]any{"tier": "gold"}, p.turn(turnID)["metadata"])
	var more []string
	p.evalInto(`[...document.querySelectorAll('#explanation [data-part="more"] > dl > dd')].map(dd => dd.dataset.field)`, &more)
	assert.Equal(t, []string{"metadata"}, more, "More lists the field without a view")
	assert.Equal(t, "gold", p.eval(`document.querySelector('#explanation [data-part="more"] [data-field="metadata"] [data-field="tier"]').textContent`))
	p.screenshot("8-more.png", `#explanation [data-part="more"]`)
}

// TestConsolePastedToken: a token typed into the page connects as the link
// does, and the agents offered are the token's tenant's, exactly as
// GET /v1/agents lists them: another tenant's agent is not among them.
func TestConsolePastedToken(t *testing.T) {
	p := startConsole(t)
	create := func(token, name string) string {
		res := p.app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/agents", Token: token,
			Body: map[string]any{"name": name, "system_prompt": "You help the customers of a bike shop."}})
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
		var agent map[string]any
		res.JSON(t, &agent)
		return agent["id"].(string)
	}
	other := create(harness.Token(t, uuid.NewString(), "admin"), "Another tenant's bike shop")
	second := create(p.token, "Bike shop assistant")
	var listed struct {
		Items []map[string]any `json:"items"`
	}
	res := p.app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/agents", Token: p.token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res.JSON(t, &listed)
	var ids []string
	for _, a := range listed.Items {
		ids = append(ids, a["id"].(string))
	}
	require.ElementsMatch(t, []string{harness.DemoAgent, second}, ids)

	p.do(chromedp.Navigate(p.app.URL+"/console"),
		chromedp.SendKeys(chromedp.ID("token"), p.token), chromedp.Click(chromedp.CSS(`#auth button[type="submit"]`)))
	p.waitFor(`!document.getElementById("message").disabled`)
	var options []string
	p.evalInto(`[...document.querySelectorAll("#agent option")].map(o => o.value)`, &options)
	assert.Equal(t, ids, options, "the agents offered are the tenant's, in the API's order")
	assert.NotContains(t, options, other)
	assert.Equal(t, "Connected: 2 agents.", p.eval(`document.getElementById("status").textContent`))
	p.screenshot("9-pasted-token.png", "")
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n float64
	require.NoError(t, json.Unmarshal([]byte(s), &n), "a number: %q", s)
	require.False(t, math.IsNaN(n))
	return int(n)
}
