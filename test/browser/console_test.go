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
	fake := fakellm.New(fakellm.WithResponder(func(fakellm.Request) fakellm.Reply {
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
	// candidate, as long as its score, and the matched rules listed.
	turnID, _ = p.send("Hello! What is your return policy? How long does shipping take?")
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
	decision := p.turn(turnID)["explanation"].(map[string]any)["scenario"].(map[string]any)
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
