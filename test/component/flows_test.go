package component

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// toolHit is one request a fake tool webhook received.
type toolHit struct {
	header http.Header
	body   []byte
	at     time.Time
}

// flakyTool is a tool webhook on loopback that answers 503 to its first
// call and {"variables": {"order_state": "shipped"}} after that.
type flakyTool struct {
	addr string
	mu   sync.Mutex
	hits []toolHit
}

func startFlakyTool(t *testing.T) *flakyTool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ft := &flakyTool{addr: ln.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ft.mu.Lock()
		ft.hits = append(ft.hits, toolHit{header: r.Header.Clone(), body: body, at: time.Now()})
		first := len(ft.hits) == 1
		ft.mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"variables":{"order_state":"shipped"}}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ft
}

func (ft *flakyTool) received() []toolHit {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return append([]toolHit(nil), ft.hits...)
}

// signatureValid checks a Focal-Signature the way docs/agent-bundle.md
// tells a receiver to: HMAC-SHA256 of "<t>.<body>" with the tool's
// secret, and a timestamp close to the time it arrived.
func signatureValid(header string, body []byte, secret string, arrived time.Time) bool {
	fields := map[string]string{}
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		fields[k] = v
	}
	sent, err := strconv.ParseInt(fields["t"], 10, 64)
	if err != nil || arrived.Sub(time.Unix(sent, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(fields["t"] + "."))
	mac.Write(body)
	return hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(fields["v1"]))
}

const toolSecret = "whsec-component-0123456789"

// A tool that fails with a 503 is retried with the same Idempotency-Key
// (<turn_id>:<tool_id>) and the same body, and both attempts carry a
// signature the receiver can verify with the tool's secret.
func TestToolRetriesKeepTheirIdempotencyKeyAndAreSigned(t *testing.T) {
	tool := startFlakyTool(t)
	app := harness.Start(t, map[string]string{"FOCAL_TOOLS_ALLOWED_HOSTS": tool.addr, "FOCAL_TOOLS_MAX_RETRIES": "1"})
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	const agent = "0d5f7a52-6a43-4d1e-9b8e-6f1f0c1d2e3f"
	admin.must(http.StatusCreated, http.MethodPut, "/v1/agents/"+agent+"/bundle", map[string]any{
		"agent": map[string]any{"name": "Order desk"},
		"rules": []any{map[string]any{"id": "status", "condition": "where is my order; order status",
			"action": "Look the order up.", "tool_ids": []string{"lookup"}, "template_ids": []string{"tpl_status"}}},
		"templates": []any{map[string]any{"id": "tpl_status", "mode": "exclusive", "text": "Your order is {order_state|being looked up}."}},
		"tools": []any{map[string]any{"id": "lookup", "url": "http://" + tool.addr + "/orders", "outputs": []string{"order_state"},
			"secret": toolSecret}},
	})

	var reply struct {
		Response    string   `json:"response"`
		TurnID      string   `json:"turn_id"`
		ToolsCalled []string `json:"tools_called"`
	}
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: admin.token, Body: map[string]any{
		"agent_id": agent, "channel": "webchat", "user_channel_id": "u-tools", "message": "where is my order?",
	}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res.JSON(t, &reply)
	assert.Equal(t, []string{"lookup"}, reply.ToolsCalled, "the retry succeeded")
	assert.Equal(t, "Your order is shipped.", reply.Response)

	hits := tool.received()
	require.Len(t, hits, 2, "the 503, then the retry")
	for i, h := range hits {
		assert.Equal(t, reply.TurnID+":lookup", h.header.Get("Idempotency-Key"), "attempt %d", i+1)
		assert.True(t, signatureValid(h.header.Get("Focal-Signature"), h.body, toolSecret, h.at), "attempt %d: signature %q", i+1, h.header.Get("Focal-Signature"))
		assert.False(t, signatureValid(h.header.Get("Focal-Signature"), h.body, "another-secret-0123456789", h.at))
		assert.Contains(t, string(h.body), `"turn_id":"`+reply.TurnID+`"`)
	}
	assert.Equal(t, string(hits[0].body), string(hits[1].body), "a retry never changes the body")

	// The secret never comes back out: admins see that one is set.
	got := admin.must(http.StatusOK, http.MethodGet, "/v1/agents/"+agent+"/tools/lookup", nil)
	assert.Equal(t, "REDACTED", got["secret"])
	member := policyAPI{t, app, harness.Token(t, harness.DemoTenant)}
	got = member.must(http.StatusOK, http.MethodGet, "/v1/agents/"+agent+"/tools/lookup", nil)
	assert.NotContains(t, got, "secret")
	exported := admin.do(http.MethodGet, "/v1/agents/"+agent+"/bundle", nil)
	assert.NotContains(t, string(exported.Body), toolSecret)
}

// Variables are policy: declared through their own routes, exported with
// the bundle, and a variable a template reads cannot be deleted.
func TestVariablesThroughThePolicyAPI(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	base := "/v1/agents/" + harness.DemoAgent

	list := admin.must(http.StatusOK, http.MethodGet, base+"/variables", nil)
	var names []string
	for _, item := range list["items"].([]any) {
		names = append(names, item.(map[string]any)["name"].(string))
	}
	assert.Equal(t, []string{"email", "order_id", "reason"}, names, "the demo agent's declarations, by name")

	created := admin.must(http.StatusCreated, http.MethodPost, base+"/variables", map[string]any{
		"name": "first_name", "type": "text", "description": "first name", "from_metadata": "first_name"})
	assert.Equal(t, true, created["changeable"], "changeable unless said otherwise")
	admin.must(http.StatusCreated, http.MethodPost, base+"/templates", map[string]any{
		"id": "tpl_hi", "mode": "suggest", "text": "Hi {first_name}!", "default": "Hi {meta.nickname|there}!"})

	res := admin.do(http.MethodDelete, base+"/variables/first_name", nil)
	require.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
	assert.Contains(t, string(res.Body), "variable first_name is still in use")
	assert.Contains(t, string(res.Body), "{first_name} is nothing that can have a value")

	res = admin.do(http.MethodPost, base+"/variables", map[string]any{"name": "when", "type": "date", "date_order": "ymd"})
	require.Equal(t, http.StatusBadRequest, res.Status)
	assert.Contains(t, string(res.Body), `"field":"date_order"`)

	res = admin.do(http.MethodPost, base+"/variables", map[string]any{"name": "colour", "type": "text", "shade": "blue"})
	require.Equal(t, http.StatusBadRequest, res.Status, "unknown fields are refused")

	bundle := admin.must(http.StatusOK, http.MethodGet, base+"/bundle", nil)
	require.Len(t, bundle["variables"], 4)
	assert.Equal(t, "first_name", bundle["variables"].([]any)[3].(map[string]any)["name"])

	member := policyAPI{t, app, harness.Token(t, harness.DemoTenant)}
	res = member.do(http.MethodPost, base+"/variables", map[string]any{"name": "x", "type": "text"})
	assert.Equal(t, http.StatusForbidden, res.Status)
}

// Chat metadata is held to its documented limits, each problem named.
func TestChatMetadataLimits(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	chat := func(meta map[string]any) *harness.Response {
		return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: map[string]any{
			"agent_id": harness.DemoAgent, "channel": "webchat", "user_channel_id": "u-meta", "message": "hello", "metadata": meta,
		}})
	}
	res := chat(map[string]any{"first_name": "Ana", "tier": "gold", "note": nil, "tags": []any{"vip", nil}, "customer": map[string]any{"orders": 3, "vip": true}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var reply struct {
		TurnID string `json:"turn_id"`
	}
	res.JSON(t, &reply)
	turn := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + reply.TurnID, Token: token})
	require.Equal(t, http.StatusOK, turn.Status)
	assert.Contains(t, string(turn.Body), `"first_name":"Ana"`, "stored on the turn record")

	res = chat(map[string]any{"first name": "Ana", "customer": map[string]any{"address": map[string]any{"city": "Oslo"}}})
	require.Equal(t, http.StatusBadRequest, res.Status)
	var e struct {
		Error struct {
			Details []struct{ Field, Message string } `json:"details"`
		} `json:"error"`
	}
	res.JSON(t, &e)
	var fields []string
	for _, d := range e.Error.Details {
		fields = append(fields, d.Field)
	}
	assert.ElementsMatch(t, []string{"metadata", "metadata.customer.address"}, fields)
}

// A second return whose message gives an order number one digit short,
// over HTTP with the demo agent: the reply says why and asks for the
// number again, the turn record lists the refusal, and the session no
// longer holds the first return's order, which the next turn would
// otherwise have gone on with (docs/agent-bundle.md).
func TestSecondReturnWithAnInvalidOrderIsToldAndAskedAgain(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	say := func(message string) (reply struct {
		Response  string            `json:"response"`
		SessionID string            `json:"session_id"`
		TurnID    string            `json:"turn_id"`
		Scenario  map[string]string `json:"scenario"`
	}) {
		t.Helper()
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("customer-keep", message)})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		res.JSON(t, &reply)
		return reply
	}
	say("I want to return my jacket")
	say("My order number is AC-111111")
	require.Equal(t, "confirm", say("It was the wrong size").Scenario["step"], "the first return ends at its terminal step")

	r := say("I want to return my coat too, order AC-22222")
	assert.Equal(t, `"AC-22222" is not a valid order number: AC- followed by six digits. `+
		"I can help you return an item. What is your order number? It starts with AC-.", r.Response)
	assert.Equal(t, map[string]string{"id": "returns", "step": "ask_order"}, r.Scenario)

	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + r.TurnID, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var turn struct {
		Explanation struct {
			Variables []map[string]any `json:"variables"`
			Scenario  struct {
				Reask string `json:"reask"`
			} `json:"scenario"`
		} `json:"explanation"`
	}
	res.JSON(t, &turn)
	assert.Contains(t, turn.Explanation.Variables, map[string]any{"variable": "order_id", "source": "extractor", "text": "AC-22222",
		"problem": "invalid", "reason": `"AC-22222" is not a valid order number: AC- followed by six digits`})
	assert.Contains(t, turn.Explanation.Scenario.Reask, "not a valid order number")

	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + r.SessionID, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var session struct {
		Variables map[string]any `json:"variables"`
	}
	res.JSON(t, &session)
	assert.NotContains(t, session.Variables, "order_id", "the first return's order does not stand in for the refused one")
	assert.Equal(t, "wrong_size", session.Variables["reason"])

	r = say("sorry, AC-222222")
	assert.Equal(t, map[string]string{"id": "returns", "step": "ask_reason"}, r.Scenario)
}
