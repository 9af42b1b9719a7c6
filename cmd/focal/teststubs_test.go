package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/tools"
	"focal/application"
	"focal/domain"
)

// demoWith writes the demo agent, changed by edit, to a file of its own.
func demoWith(t *testing.T, edit func(p *domain.Policy)) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	p, err := application.ParseBundle(raw)
	require.NoError(t, err)
	edit(p)
	out, err := application.EncodeBundleYAML(p)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "bundle.yaml")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	return path
}

// countingTool is a tool's real address: it counts its calls and answers
// variables.
func countingTool(t *testing.T, answer string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// returnTurns reach the returns flow's confirmation, whose entry calls
// the tools; expect is the last turn's expectations.
func returnTurns(expect string) string {
	return "    turns:\n" +
		"      - user: I want to return my jacket\n" +
		"      - user: AC-123456\n" +
		"      - user: it was too small\n" +
		"        expect: " + expect + "\n"
}

// A tool no file stands in for calls its URL. A tool a file stands in for
// calls the stand-ins for the whole run, never its URL: in a conversation
// without its stand-in it fails as a tool that is down does, and the reply
// goes on without it.
func TestToolsWithoutAStandInKeepTheirURLs(t *testing.T) {
	orders, orderCalls := countingTool(t, `{"variables": {"item_name": "navy wool coat"}}`)
	loyalty, loyaltyCalls := countingTool(t, `{"variables": {"tier": "gold"}}`)
	t.Setenv("FOCAL_TOOLS_ALLOWED_HOSTS", orders.Listener.Addr().String()+","+loyalty.Listener.Addr().String())
	bundle := demoWith(t, func(p *domain.Policy) {
		require.Equal(t, "order_lookup", p.Tools[0].ID)
		p.Tools[0].URL = orders.URL + "/orders/lookup"
		p.Tools = append(p.Tools, domain.Tool{ID: "loyalty_lookup", URL: loyalty.URL + "/loyalty"})
		steps := p.Scenarios[0].Steps
		require.Equal(t, "returns/confirm", p.Scenarios[0].ID+"/"+steps[len(steps)-1].ID)
		steps[len(steps)-1].ToolsOnEntry = append(steps[len(steps)-1].ToolsOnEntry, "loyalty_lookup")
	})
	withoutLookup := "  - name: no stand-in here\n" +
		returnTurns(`{tools_called: [loyalty_lookup], reply: {equals: "Your return for order AC-123456 is registered. `+
			`A prepaid return label is on its way to your email. Anything else I can help with?"}}`)
	dir := t.TempDir()
	one, other := filepath.Join(dir, "one.test.yaml"), filepath.Join(dir, "other.test.yaml")
	require.NoError(t, os.WriteFile(one, []byte("name: one stand-in\nconversations:\n"+
		"  - name: the lookup stands in\n    tools:\n      order_lookup: {variables: {item_name: grey hoodie}}\n"+
		returnTurns(`{tools_called: [order_lookup, loyalty_lookup], reply: {contains: ["grey hoodie"]}}`)+withoutLookup), 0o600))
	// The other file stands in for nothing, but runs beside one that does.
	require.NoError(t, os.WriteFile(other, []byte("name: no stand-ins\nconversations:\n"+withoutLookup), 0o600))

	out, err := runCLI(t, "test", bundle, one, other)
	require.NoError(t, err, out)
	assert.Equal(t, int32(3), loyaltyCalls.Load(), "the tool no file stands in for is called at its URL")
	assert.Zero(t, orderCalls.Load(), "the tool a file stands in for is never called at its URL")
	assert.Equal(t, 2, strings.Count(out, "tools: order_lookup (tool order_lookup failed: it answered HTTP 404); loyalty_lookup ok"), out)
}

// A stand-in is called as the tool is in production: signed with the
// tool's secret, under its Idempotency-Key, and its answer validated, so
// an output its variable refuses has the whole answer refused.
func TestStandInCallsAreSignedAndTheirAnswersValidated(t *testing.T) {
	const secret = "conversation-test-secret"
	bundle := demoWith(t, func(p *domain.Policy) {
		require.Equal(t, "order_lookup", p.Tools[0].ID)
		p.Tools[0].Secret = secret
		p.Tools[0].Outputs = append(p.Tools[0].Outputs, "order_id")
	})
	tests := filepath.Join(t.TempDir(), "refused.test.yaml")
	require.NoError(t, os.WriteFile(tests, []byte("name: refused\ntools:\n"+
		"  order_lookup: {variables: {item_name: grey hoodie, order_id: AC-12345}}\n"+
		"conversations:\n  - name: a lookup with a bad order number\n"+
		returnTurns(`{tools_called: [], reply: {contains: ["Your return for order AC-123456 is registered."]}}`)), 0o600))
	suites, err := readSuites([]string{tests})
	require.NoError(t, err)

	var mu sync.Mutex
	var headers []http.Header
	var bodies [][]byte
	stubs := &toolStubServer{}
	answer := stubs.handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		headers, bodies = append(headers, r.Header.Clone()), append(bodies, body)
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		answer.ServeHTTP(w, r)
	}))
	defer srv.Close()
	stubs.ln = srv.Listener
	var out bytes.Buffer
	stage, err := coreStage(t.Context(), "", bundle, suites, stubs)
	require.NoError(t, err)
	defer stage.stop()
	reports, err := playSuites(t.Context(), &out, stage.runner, suites)
	require.NoError(t, err, out.String())
	require.NoError(t, verdict(reports), out.String())
	assert.Contains(t, out.String(), `tools: order_lookup (the tool's answer was refused: its output order_id is invalid: "AC-12345" is not a valid order number`)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, bodies, 1, "a refused answer is not retried")
	var call struct {
		TurnID string `json:"turn_id"`
	}
	require.NoError(t, json.Unmarshal(bodies[0], &call))
	assert.Equal(t, call.TurnID+":order_lookup", headers[0].Get(tools.HeaderIdempotencyKey))
	sig := headers[0].Get(tools.HeaderSignature)
	sent, err := strconv.ParseInt(strings.TrimPrefix(strings.Split(sig, ",")[0], "t="), 10, 64)
	require.NoError(t, err, sig)
	assert.Equal(t, tools.Sign([]byte(secret), time.Unix(sent, 0), bodies[0]), sig, "the body is signed with the tool's secret")
}
