package component

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// replayedTurn is a turn of a replay report with what it changed and the
// error it was reported with.
type replayedTurn struct {
	TurnNumber int      `json:"turn_number"`
	Message    string   `json:"message"`
	Before     turnView `json:"before"`
	After      turnView `json:"after"`
	Changed    []string `json:"changed"`
	Error      string   `json:"error"`
}

// replayOf posts a replay of the agent as admin, requires a 200 and
// returns the turns of its one session.
func replayOf(t *testing.T, app *harness.App, agent string, body map[string]any) []replayedTurn {
	t.Helper()
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/agents/" + agent + "/replay",
		Token: harness.Token(t, harness.DemoTenant, "admin"), Body: body})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var r struct {
		Sessions []struct {
			Turns []replayedTurn `json:"turns"`
		} `json:"sessions"`
	}
	res.JSON(t, &r)
	require.Len(t, r.Sessions, 1, "%s", res.Body)
	return r.Sessions[0].Turns
}

// countingTool is a tool webhook on loopback that counts its calls and
// answers {"variables": {"order_state": <state>}}.
type countingTool struct {
	addr  string
	mu    sync.Mutex
	calls int
	state string
}

func startCountingTool(t *testing.T, state string) *countingTool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ct := &countingTool{addr: ln.Addr().String(), state: state}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		ct.mu.Lock()
		ct.calls++
		state := ct.state
		ct.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"variables":{"order_state":"`+state+`"}}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ct
}

func (ct *countingTool) called() int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.calls
}

func (ct *countingTool) answer(state string) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.state = state
}

// api.md: in a replay "tools are never called, each answers with the
// recorded turn's output". Two turns that called a tool live are replayed
// (against the same version, and against a bundle that words the reply
// differently) while the tool would now answer something else: the tool
// gets no call, and each replayed reply carries what the tool answered
// when the turn was recorded.
func TestReplayNeverCallsToolsAndUsesTheRecordedOutput(t *testing.T) {
	tool := startCountingTool(t, "shipped")
	app := harness.Start(t, map[string]string{"FOCAL_TOOLS_ALLOWED_HOSTS": tool.addr, "FOCAL_TOOLS_MAX_RETRIES": "0"})
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	const agent = "3c1e9b0a-7d2f-4e5a-8b6c-9d0e1f2a3b4c"
	bundle := map[string]any{
		"agent": map[string]any{"name": "Order desk"},
		"rules": []any{map[string]any{"id": "status", "condition": "where is my order; order status",
			"action": "Look the order up.", "tool_ids": []string{"lookup"}, "template_ids": []string{"tpl_status"}}},
		"templates": []any{map[string]any{"id": "tpl_status", "mode": "exclusive", "text": "Your order is {order_state|being looked up}."}},
		"tools": []any{map[string]any{"id": "lookup", "url": "http://" + tool.addr + "/orders", "outputs": []string{"order_state"},
			"secret": toolSecret}},
	}
	admin.must(http.StatusCreated, http.MethodPut, "/v1/agents/"+agent+"/bundle", bundle)
	version := etag(t, admin.do(http.MethodGet, "/v1/agents/"+agent, nil))

	var session string
	for _, msg := range []string{"where is my order?", "what is my order status?"} {
		var reply struct {
			SessionID   string   `json:"session_id"`
			Response    string   `json:"response"`
			ToolsCalled []string `json:"tools_called"`
		}
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: admin.token, Body: map[string]any{
			"agent_id": agent, "channel": "webchat", "user_channel_id": "u-replayed-tools", "message": msg,
		}})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		res.JSON(t, &reply)
		require.Equal(t, []string{"lookup"}, reply.ToolsCalled, "the recorded turn called the tool")
		require.Equal(t, "Your order is shipped.", reply.Response)
		session = reply.SessionID
	}
	require.Equal(t, 2, tool.called(), "one call per recorded turn")
	tool.answer("lost") // what a call made now would get

	same := replayOf(t, app, agent, map[string]any{"version": version, "sessions": map[string]any{"ids": []string{session}}})
	require.Len(t, same, 2)
	for _, turn := range same {
		assert.Empty(t, turn.Error, "turn %d", turn.TurnNumber)
		assert.Equal(t, "Your order is shipped.", turn.After.Reply, "turn %d: the recorded output, not the tool's answer now", turn.TurnNumber)
		assert.Empty(t, turn.Changed, "turn %d", turn.TurnNumber)
	}

	bundle["templates"] = []any{map[string]any{"id": "tpl_status", "mode": "exclusive", "text": "Order status: {order_state|unknown}."}}
	reworded := replayOf(t, app, agent, map[string]any{"bundle": bundle, "sessions": map[string]any{"ids": []string{session}}})
	require.Len(t, reworded, 2)
	for _, turn := range reworded {
		assert.Empty(t, turn.Error, "turn %d", turn.TurnNumber)
		assert.Equal(t, "Order status: shipped.", turn.After.Reply, "turn %d: the candidate reads the recorded output", turn.TurnNumber)
		assert.Equal(t, []string{"reply"}, turn.Changed, "turn %d", turn.TurnNumber)
	}

	assert.Equal(t, 2, tool.called(), "the replays called no tool")
}
