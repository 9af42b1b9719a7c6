package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// demoTests is the demo agent's conversation test file.
var demoTests = filepath.Join(repo, "examples", "tests", "demo-agent.test.yaml")

// deployedArgs are the arguments of a run against app's demo agent.
func deployedArgs(t *testing.T, app *harness.App, more ...string) []string {
	return append([]string{"test", "--url", app.URL, "--token", harness.Token(t, harness.DemoTenant), "--agent", harness.DemoAgent}, more...)
}

// withoutStandIns is a --run expression that picks the conversations of
// the files that play with no tool stand-in, and how many it picks.
func withoutStandIns(t *testing.T, paths ...string) (string, int) {
	t.Helper()
	suites, err := readSuites(paths)
	require.NoError(t, err)
	var names []string
	for _, s := range suites {
		for _, c := range s.Conversations {
			if len(s.InForce(c)) == 0 {
				names = append(names, regexp.QuoteMeta(c.Name))
			}
		}
	}
	require.NotEmpty(t, names)
	return "^(" + strings.Join(names, "|") + ")$", len(names)
}

// servedRequests counts the requests app answered under /v1, by
// "METHOD route status", from its /metrics.
func servedRequests(t *testing.T, app *harness.App) map[string]float64 {
	t.Helper()
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/metrics"})
	require.Equal(t, http.StatusOK, res.Status)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(res.Body))
	require.NoError(t, err)
	served := map[string]float64{}
	fam, ok := fams["focal_http_requests_total"]
	if !ok {
		return served
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, fam)
	require.NoError(t, err)
	for _, s := range samples {
		if route := string(s.Metric["route"]); strings.HasPrefix(route, "/v1/") {
			served[fmt.Sprintf("%s %s %s", s.Metric["method"], route, s.Metric["status"])] += float64(s.Value)
		}
	}
	return served
}

// The demo agent's conversations that need no stand-in pass against the
// demo agent served over HTTP, and the report is the in-process run's,
// decisions, variables and all: the turn record read over the API is the
// one the engine wrote.
func TestDeployedAgentPassesTheDemoConversationTests(t *testing.T) {
	app := harness.Start(t, nil)
	run, picked := withoutStandIns(t, demoTests)
	remote, err := runCLI(t, deployedArgs(t, app, "--run", run, demoTests)...)
	require.NoError(t, err, remote)
	assert.Contains(t, remote, fmt.Sprintf("%d conversations, ", picked))
	assert.Contains(t, remote, " 0 failed")
	assert.Regexp(t, `(?m)^ +rules: .* · scenario: `, remote, "the decisions, from the turn records")
	assert.Contains(t, remote, "reask: I still need your order number", "a reask, from the turn records")

	local, err := runCLI(t, "test", "--run", run, filepath.Join(repo, "examples", "demo-agent.yaml"), demoTests)
	require.NoError(t, err, local)
	assert.Equal(t, local, remote, "the same report in process and over HTTP")
}

// A wrong expectation fails a deployed run as it fails in process, every
// check included (variables and reask read from the turn record over the
// API), and --junit is written.
func TestDeployedRunFailsOnWrongExpectationsAndWritesJUnit(t *testing.T) {
	app := harness.Start(t, nil)
	report := filepath.Join(t.TempDir(), "report.xml")
	wrong := filepath.Join("testdata", "wrong-expectations.test.yaml")
	out, err := runCLI(t, deployedArgs(t, app, "--junit", report, wrong)...)
	require.Error(t, err)
	assert.Equal(t, "1 of 1 conversation test files failed", err.Error())
	for _, want := range []string{
		`scenario: expected "returns/ask_order", got "none"`,
		`reask: expected to contain "the order is too old", got "\"AC-12345\" is not a valid order number`,
		`variables: expected order_id = "AC-999999", got order_id = "AC-123456"`,
		`tools_called: expected [refund_lookup], got []`,
		"0 passed, 4 failed",
	} {
		assert.Contains(t, out, want)
	}
	j := readJUnit(t, report)
	require.Len(t, j.Suites, 1)
	assert.Equal(t, []any{"wrong on purpose", wrong, 2, 2}, []any{j.Suites[0].Name, j.Suites[0].File, j.Suites[0].Tests, j.Suites[0].Failures})
}

// An agent the deployment does not have fails every conversation at its
// first turn with the API's code and message, and the run. The token is
// signed with $FOCAL_JWT_SECRET, as for the other API commands.
func TestDeployedRunOfAnUnknownAgentFails(t *testing.T) {
	app := harness.Start(t, nil)
	t.Setenv("FOCAL_JWT_SECRET", harness.Secret)
	t.Setenv("FOCAL_TOKEN", "")
	run, picked := withoutStandIns(t, demoTests)
	out, err := runCLI(t, "test", "--url", app.URL, "--agent", "11111111-1111-4111-8111-111111111111", "--run", run, demoTests)
	require.Error(t, err)
	assert.Equal(t, picked, strings.Count(out, "✗ the turn failed: AGENT_NOT_FOUND (HTTP 404): agent 11111111-1111-4111-8111-111111111111 not found"), out)
	assert.Contains(t, out, fmt.Sprintf("%d conversations, %d turns: 0 passed, %d failed", picked, picked, picked))
}

// Stand-ins cannot reach a deployment: a run whose conversations have any
// (the file's, or a conversation's own) fails naming them, before any
// request reaches the server.
func TestDeployedRunRefusesStandInsBeforeSendingAnything(t *testing.T) {
	app := harness.Start(t, nil)
	_, err := runCLI(t, deployedArgs(t, app, demoTests)...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--url: tool stand-ins cannot be served to a deployment, and 11 of the conversations to play have one")
	assert.Contains(t, err.Error(), demoTests+`: "a jacket that did not fit goes back" (stands in for order_lookup)`)
	assert.Contains(t, err.Error(), demoTests+`: "when the order lookup fails, the confirmation goes without the item" (stands in for order_lookup)`)
	assert.NotContains(t, err.Error(), "cancel leaves the flow", "it needs none")

	fileWide := filepath.Join(t.TempDir(), "file-wide.test.yaml")
	writeFile(t, fileWide, "name: file-wide\ntools:\n  order_lookup: {status: 503}\nconversations:\n  - name: hello\n    turns: [{user: hello}]\n")
	_, err = runCLI(t, deployedArgs(t, app, "--run", "cancel|hello", demoTests, fileWide)...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 of the conversations to play have one")
	assert.Contains(t, err.Error(), fileWide+`: "hello" (stands in for order_lookup)`, "a file's stand-in is in force for every conversation")

	assert.Empty(t, servedRequests(t, app), "nothing was sent")
}

// A deployment that rate-limits the run (one request a second here) is
// waited for as its Retry-After says, and every turn is recorded once.
func TestDeployedRunWaitsOutARateLimit(t *testing.T) {
	app := harness.Start(t, map[string]string{
		"FOCAL_RATE_LIMIT_TENANTS": harness.DemoTenant + "=1",
		"FOCAL_RATE_LIMIT_WINDOW":  "1s",
	})
	out, err := runCLI(t, deployedArgs(t, app, "--run", "^cancel leaves the flow$", demoTests)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "1 conversation, 2 turns: 2 passed, 0 failed")
	assert.Contains(t, out, "scenario: exit · command: cancel", "the turn records were read too")

	served := servedRequests(t, app)
	assert.Positive(t, served["POST /v1/chat 429"]+served["GET /v1/turns/:turn_id 429"], "the run was rate-limited: %v", served)
	assert.EqualValues(t, 2, served["POST /v1/chat 200"], "%v", served)
	assert.EqualValues(t, 2, served["GET /v1/turns/:turn_id 200"], "%v", served)
}

// A turn whose answer is lost after the deployment recorded it (a proxy in
// front of it answers 503 instead) is asked again under the same
// Idempotency-Key, and the deployment answers with the turn it recorded:
// the session holds each message once. The proxy is the only stand-in: the
// service behind it is the real one.
func TestDeployedRunRetriesALostAnswerWithoutRecordingTheTurnTwice(t *testing.T) {
	app := harness.Start(t, nil)
	target, err := url.Parse(app.URL)
	require.NoError(t, err)
	var mu sync.Mutex
	var keys, replayed []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(res *http.Response) error {
		if res.Request.Method != http.MethodPost {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, res.Request.Header.Get("Idempotency-Key"))
		replayed = append(replayed, res.Header.Get("Idempotent-Replayed"))
		if len(keys) > 1 {
			return nil
		}
		// The turn is recorded; its answer never reaches the client.
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		res.StatusCode, res.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
		res.Header = http.Header{"Retry-After": {"1"}, "Content-Type": {"text/plain"}}
		res.Body = io.NopCloser(strings.NewReader("upstream answer lost"))
		res.ContentLength = -1
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()

	token := harness.Token(t, harness.DemoTenant)
	out, err := runCLI(t, "test", "--url", front.URL, "--token", token, "--agent", harness.DemoAgent, "--run", "^cancel leaves the flow$", demoTests)
	require.NoError(t, err, out)
	assert.Contains(t, out, "2 turns: 2 passed, 0 failed")

	mu.Lock()
	assert.Len(t, keys, 3, "the first turn twice, the second once")
	assert.NotEmpty(t, keys[0])
	assert.Equal(t, keys[0], keys[1], "the retry sends the first attempt's key")
	assert.NotEqual(t, keys[1], keys[2], "each turn has a key of its own")
	assert.Equal(t, []string{"", "true", ""}, replayed, "the retry is answered with the recorded turn")
	mu.Unlock()

	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions?agent_id=" + harness.DemoAgent, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var sessions struct {
		Items []struct {
			UserChannelID string `json:"user_channel_id"`
			TurnCount     int    `json:"turn_count"`
		} `json:"items"`
	}
	res.JSON(t, &sessions)
	require.Len(t, sessions.Items, 1)
	assert.True(t, strings.HasPrefix(sessions.Items[0].UserChannelID, "convtest-"), sessions.Items[0].UserChannelID)
	assert.Equal(t, 2, sessions.Items[0].TurnCount, "each message recorded once")
}

// The flags fit the mode: a deployment needs --agent and takes no bundle;
// in process, the deployment's flags are refused rather than ignored.
func TestDeployedRunFlags(t *testing.T) {
	_, err := runCLI(t, "test", "--url", "http://127.0.0.1:1", demoTests)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--url needs --agent")
	_, err = runCLI(t, "test", "--url", "http://127.0.0.1:1", "--agent", harness.DemoAgent)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "requires at least 1 arg")
	for _, flag := range []string{"--agent", "--token", "--tenant"} {
		_, err = runCLI(t, "test", flag, "x", filepath.Join(repo, "examples", "demo-agent.yaml"), demoTests)
		require.Error(t, err, flag)
		assert.Contains(t, err.Error(), flag+" applies only with --url")
	}
}

// The help and the docs state the retries' bound as it is.
func TestDeployedRunRetryBoundIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repo, "docs", "agent-bundle.md"))
	require.NoError(t, err)
	assert.Contains(t, strings.Join(strings.Fields(string(doc)), " "), retryBound)
	out, err := runCLI(t, "test", "--help")
	require.NoError(t, err)
	assert.Contains(t, out, retryBound)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
}
