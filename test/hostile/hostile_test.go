package hostile

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest/observer"

	"focal/test/harness"
)

// rssBound is the most the process's peak resident set may reach in this
// suite (the race detector's shadow memory included).
const rssBound = 2 << 30

// TestHostilePoliciesAreContained runs every attack against one process
// while the demo tenant chats on.
func TestHostilePoliciesAreContained(t *testing.T) {
	tg := listenTarget(t)
	toolAddr, calls := toolServer(t, tg.addr())
	closed := closedAddr(t)
	app, logs := harness.StartObserved(t, map[string]string{
		// The tenants' own webhooks run on loopback; only they are allowed,
		// port by port, so every other loopback address stays refused.
		"FOCAL_TOOLS_ALLOWED_HOSTS": toolAddr + "," + closed,
	})
	heap := watchHeap()
	bystander := startBystander(t, app)
	attacker := api{t, app, harness.Token(t, hostileTenant, "admin")}

	t.Run("expression bombs are refused at import", func(t *testing.T) { expressionBombs(t, attacker) })
	t.Run("patterns too costly to compile are refused at import", func(t *testing.T) { patternBombs(t, attacker) })
	t.Run("an anchored alias bomb is refused at import", func(t *testing.T) { aliasBomb(t, attacker) })
	t.Run("100,000-rule bundles are refused", func(t *testing.T) { hugeBundles(t, attacker) })
	t.Run("tools reach no private address, follow no redirect, flood no session", func(t *testing.T) {
		hostileTools(t, attacker, toolAddr, closed, tg, calls)
	})
	t.Run("another tenant's failing tool never opens this tenant's breaker", func(t *testing.T) {
		breakersPerTenant(t, app, toolAddr, calls)
	})
	t.Run("a 100-year token is refused", func(t *testing.T) { longLivedToken(t, app) })
	t.Run("metrics name no tenant, agent or tool", func(t *testing.T) { metricsWithoutTenants(t, app) })

	bystander.finish(t)
	peak := heap.finish()
	t.Logf("peak heap objects: %d MiB (bound %d MiB); peak RSS: %d MiB", peak>>20, heapBound>>20, peakRSS(t)>>20)
	assert.Less(t, peak, uint64(heapBound))
	assert.Less(t, peakRSS(t), uint64(rssBound))
	noSecretsLogged(t, logs, []string{"PASSSECRET", "KEYSECRET"})
}

func importBundle(a api, agentID, body, contentType string) *harness.Response {
	a.t.Helper()
	return a.do(http.MethodPut, "/v1/agents/"+agentID+"/bundle", body, "Content-Type", contentType)
}

// refused checks a 4xx with the given code whose details name field
// (prefix) with a message containing msg.
func refused(t *testing.T, res *harness.Response, status int, field, msg string) {
	t.Helper()
	require.Equal(t, status, res.Status, "%.500s", res.Body)
	e := decodeError(t, res)
	for _, d := range e.Error.Details {
		if strings.HasPrefix(d.Field, field) && strings.Contains(d.Message, msg) {
			return
		}
	}
	if field == "" && strings.Contains(e.Error.Message, msg) {
		return
	}
	t.Fatalf("no %q detail about %q in %.1000s", field, msg, res.Body)
}

func expressionBombs(t *testing.T, a api) {
	for _, tt := range []struct{ expr, msg string }{
		{`len(repeat(repeat("x", 999999), 999999)) > 0`, "may not use repeat()"},
		{`len(repeat(reply.text, 999999)) > 0`, "may not use repeat()"},
		{`reply.text matches (reply.text + "Q")`, "constant pattern"},
		{`len(1..999999999) > 0`, `operator ".."`},
		{`len(map(1..100000, {repeat("y", #)})) > 0`, "may not use"},
	} {
		bundle := fmt.Sprintf(`{"agent":{"name":"bomb"},"rules":[{"id":"r","condition":"anything","action":"x","hard":true,
			"constraints":[{"kind":"expression","value":%q}]}]}`, tt.expr)
		res := importBundle(a, uuid.NewString(), bundle, "application/json")
		refused(t, res, http.StatusBadRequest, "rules[0].constraints[0].value", tt.msg)
	}
}

func patternBombs(t *testing.T, a api) {
	// 40 patterns of 22 KB each, an 880 KB bundle: once 6.2 GB at the
	// first turn.
	var words []string
	for i := range 3400 {
		words = append(words, fmt.Sprintf("w%05d", i))
	}
	pattern := `\b(?:` + strings.Join(words, "|") + `){1,3}\b`
	require.Greater(t, len(pattern), 20_000)
	rules := make([]map[string]any, 40)
	for i := range rules {
		rules[i] = map[string]any{"id": fmt.Sprintf("p%d", i), "condition": "anything", "action": "x", "hard": true,
			"constraints": []map[string]any{{"kind": "forbid_pattern", "value": pattern}}}
	}
	raw, err := json.Marshal(map[string]any{"agent": map[string]any{"name": "patterns"}, "rules": rules})
	require.NoError(t, err)
	res := importBundle(a, uuid.NewString(), string(raw), "application/json")
	refused(t, res, http.StatusBadRequest, "rules[39].constraints[0]", "at most 1000 bytes")
	assert.Len(t, decodeError(t, res).Error.Details, 40, "every pattern is named")

	// A short pattern that would compile to a huge program.
	bundle := `{"agent":{"name":"program"},"rules":[{"id":"r","condition":"anything","action":"x","hard":true,
		"constraints":[{"kind":"forbid_pattern","value":"(?:(?:\\w{30}){30})(?:(?:\\d{30}){30})"}]}]}`
	refused(t, importBundle(a, uuid.NewString(), bundle, "application/json"), http.StatusBadRequest,
		"rules[0].constraints[0]", "more than 2000 instructions")
}

func aliasBomb(t *testing.T, a api) {
	// One 1 MiB anchored string aliased 10,000 times: a 1.08 MB document
	// that expands to 10 GB.
	var b strings.Builder
	b.WriteString("agent: {name: alias}\n")
	fmt.Fprintf(&b, "templates:\n  - {id: big, mode: suggest, text: &big %s}\n", strings.Repeat("x", 1<<20))
	b.WriteString("rules:\n")
	for i := range 10_000 {
		fmt.Fprintf(&b, "  - {id: r%d, condition: *big, action: x}\n", i)
	}
	res := importBundle(a, uuid.NewString(), b.String(), "application/yaml")
	refused(t, res, http.StatusBadRequest, "", "YAML anchor or alias at line 3")
}

func hugeBundles(t *testing.T, a api) {
	// 28 MB: refused by its size before it is read.
	var b strings.Builder
	b.WriteString(`{"agent":{"name":"huge"},"rules":[`)
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 9)
	for i := range 100_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"r%06d","condition":"%s%d","action":"do %d"}`, i, filler, i, i)
	}
	b.WriteString(`]}`)
	require.Greater(t, b.Len(), 25<<20)
	res := importBundle(a, uuid.NewString(), b.String(), "application/json")
	refused(t, res, http.StatusRequestEntityTooLarge, "", "exceeds 4194304 bytes")

	// Compact enough to fit the size limit: refused by the rules limit.
	b.Reset()
	b.WriteString("agent: {name: many}\nrules:\n")
	for i := range 12_000 {
		fmt.Fprintf(&b, "- {id: r%d, condition: c%d, action: a}\n", i, i)
	}
	res = importBundle(a, uuid.NewString(), b.String(), "application/yaml")
	refused(t, res, http.StatusBadRequest, "rules", "policy limit rules")
}

// toolsBundle binds every misbehaving tool to one rule.
func toolsBundle(toolAddr, closed, target string) string {
	_, port, _ := net.SplitHostPort(target)
	return fmt.Sprintf(`
agent: {name: tools}
rules:
  - id: status
    condition: where is my order; order status
    action: Look the order up.
    tool_ids: [big, many, internal, localhost, metadata, redirect, secret]
tools:
  - {id: big, url: "http://%[1]s/big"}
  - {id: many, url: "http://%[1]s/many"}
  - {id: internal, url: "http://%[3]s/latest/meta-data/"}
  - {id: localhost, url: "http://localhost:%[4]s/admin"}
  - {id: metadata, url: "http://169.254.169.254/latest/meta-data/"}
  - {id: redirect, url: "http://%[1]s/redirect"}
  - {id: secret, url: "http://bot:PASSSECRET@%[2]s/hook?api_key=KEYSECRET&region=eu"}
`, toolAddr, closed, target, port)
}

func hostileTools(t *testing.T, a api, toolAddr, closed string, tg *target, calls *sync.Map) {
	agent := uuid.NewString()
	res := importBundle(a, agent, toolsBundle(toolAddr, closed, tg.addr()), "application/yaml")
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)

	body := harness.ChatBody("attacker", "where is my order status?")
	body["agent_id"] = agent
	res = a.do(http.MethodPost, "/v1/chat", body)
	require.Equal(t, http.StatusOK, res.Status, "the attacker's own turn still answers: %s", res.Body)
	var chat struct {
		TurnID      string   `json:"turn_id"`
		ToolsCalled []string `json:"tools_called"`
	}
	res.JSON(t, &chat)
	assert.Empty(t, chat.ToolsCalled, "no tool succeeded")

	var turn struct {
		Explanation struct {
			ToolCalls []struct {
				ToolID string `json:"tool_id"`
				Error  string `json:"error"`
			} `json:"tool_calls"`
		} `json:"explanation"`
		SessionAfter struct {
			Variables map[string]any `json:"variables"`
		} `json:"session_after"`
	}
	a.do(http.MethodGet, "/v1/turns/"+chat.TurnID, nil).JSON(t, &turn)
	got := map[string]string{}
	for _, c := range turn.Explanation.ToolCalls {
		got[c.ToolID] = c.Error
	}
	assert.Equal(t, map[string]string{
		"big":       "tool big failed: its answer exceeds 65536 bytes",
		"many":      "tool many failed: its answer has more than 32 variables",
		"internal":  "tool internal failed: its address is not allowed",
		"localhost": "tool localhost failed: its address is not allowed",
		"metadata":  "tool metadata failed: its address is not allowed",
		"redirect":  "tool redirect failed: it answered with a redirect, which tools may not follow",
		"secret":    "tool secret failed: unreachable",
	}, got)
	assert.Empty(t, turn.SessionAfter.Variables, "nothing reached the session")
	assert.Equal(t, int32(0), tg.contacted(t), "the internal address was never contacted, directly or by redirect")
	assert.Equal(t, int32(1), callsTo(calls, "redirect"))

	// Tool URLs are read back without their credentials.
	member := api{t, a.app, harness.Token(t, hostileTenant)}
	var tools struct {
		Items []struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		} `json:"items"`
	}
	var one struct {
		URL string `json:"url"`
	}
	member.do(http.MethodGet, "/v1/agents/"+agent+"/tools/secret", nil).JSON(t, &one)
	assert.Equal(t, "http://"+closed, one.URL)
	urls := func(a api) map[string]string {
		res := a.do(http.MethodGet, "/v1/agents/"+agent+"/tools?limit=100", nil)
		require.Equal(t, http.StatusOK, res.Status)
		res.JSON(t, &tools)
		out := map[string]string{}
		for _, it := range tools.Items {
			out[it.ID] = it.URL
		}
		return out
	}
	assert.Equal(t, "http://"+closed, urls(member)["secret"], "members see scheme and host only")
	assert.Equal(t, "http://bot:REDACTED@"+closed+"/hook?api_key=REDACTED&region=eu", urls(a)["secret"], "admins see it redacted")
	export := member.do(http.MethodGet, "/v1/agents/"+agent+"/bundle", nil)
	assert.NotContains(t, string(export.Body), "SECRET")
}

func breakersPerTenant(t *testing.T, app *harness.App, toolAddr string, calls *sync.Map) {
	const agentID = "c0c0c0c0-0000-4000-8000-000000000001" // the same agent id in both tenants
	bundle := fmt.Sprintf(`
agent: {name: crm}
rules:
  - {id: tier, condition: what is my tier; my tier, action: Tell the tier., tool_ids: [crm]}
tools:
  - {id: crm, url: "http://%s/crm"}
`, toolAddr)
	a := api{t, app, harness.Token(t, tenantA, "admin")}
	b := api{t, app, harness.Token(t, tenantB, "admin")}
	for _, tenant := range []api{a, b} {
		res := importBundle(tenant, agentID, bundle, "application/yaml")
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	}
	turn := func(c api) (called []string, toolError string) {
		body := harness.ChatBody("breaker", "what is my tier?")
		body["agent_id"] = agentID
		res := c.do(http.MethodPost, "/v1/chat", body)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var chat struct {
			TurnID      string   `json:"turn_id"`
			ToolsCalled []string `json:"tools_called"`
		}
		res.JSON(t, &chat)
		var rec struct {
			Explanation struct {
				ToolCalls []struct {
					Error string `json:"error"`
				} `json:"tool_calls"`
			} `json:"explanation"`
		}
		c.do(http.MethodGet, "/v1/turns/"+chat.TurnID, nil).JSON(t, &rec)
		require.Len(t, rec.Explanation.ToolCalls, 1)
		return chat.ToolsCalled, rec.Explanation.ToolCalls[0].Error
	}
	// Tenant B's crm fails: each turn tries twice (one retry), so its third
	// turn passes the 5 failures that open a breaker.
	const switchedOff = "tool crm failed: switched off for a while after repeated failures"
	for i := range 3 {
		_, e := turn(b)
		if i < 2 {
			assert.Equal(t, "tool crm failed: it answered HTTP 503", e)
		} else {
			assert.Equal(t, switchedOff, e, "the retry found the breaker open")
		}
	}
	before := callsTo(calls, "crm "+tenantB)
	_, e := turn(b)
	assert.Equal(t, switchedOff, e)
	assert.Equal(t, before, callsTo(calls, "crm "+tenantB), "B's open breaker keeps B's calls away")

	for range 3 {
		called, e := turn(a)
		assert.Equal(t, []string{"crm"}, called, "A's crm, same id and host, still answers")
		assert.Empty(t, e)
	}
	assert.Equal(t, int32(3), callsTo(calls, "crm "+tenantA))
}

func longLivedToken(t *testing.T, app *harness.App) {
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"tenant_id": hostileTenant, "roles": []string{"admin"}, "iat": now.Unix(), "exp": now.AddDate(100, 0, 0).Unix(),
	}).SignedString([]byte(harness.Secret))
	require.NoError(t, err)
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/agents", Token: tok})
	assert.Equal(t, http.StatusUnauthorized, res.Status)
}

func metricsWithoutTenants(t *testing.T, app *harness.App) {
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/metrics"})
	require.Equal(t, http.StatusOK, res.Status)
	body := string(res.Body)
	assert.Contains(t, body, "focal_tool_breakers_open 1", "tenant B's open breaker is counted")
	for _, id := range []string{hostileTenant, tenantA, tenantB, harness.DemoTenant, "crm", "secret", "127.0.0.1"} {
		assert.NotContains(t, body, id)
	}
}

// noSecretsLogged scans every line logged, at every level, message and
// fields, for the secrets.
func noSecretsLogged(t *testing.T, logs *observer.ObservedLogs, secrets []string) {
	t.Helper()
	redacted := 0
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, s := range secrets {
			assert.NotContains(t, line, s, "logged: %s", line)
		}
		if strings.Contains(line, "REDACTED") {
			redacted++
		}
	}
	assert.Positive(t, redacted, "the URLs did reach the logs, redacted")
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T) uint64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
