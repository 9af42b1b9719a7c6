package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// target is a listener that records every connection it accepts, the way
// an internal service would notice being reached.
type target struct {
	ln       net.Listener
	mu       sync.Mutex
	accepted []string // first bytes each connection sent
	seen     chan struct{}
}

func listen(t *testing.T) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tg := &target{ln: ln, seen: make(chan struct{}, 100)}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			_ = c.Close()
			tg.mu.Lock()
			tg.accepted = append(tg.accepted, string(buf[:n]))
			tg.mu.Unlock()
			tg.seen <- struct{}{}
		}
	}()
	return tg
}

// contacts returns what reached the target since the last call: it
// connects once itself and, connections being accepted in order, waits
// for that one.
func (tg *target) contacts(t *testing.T) []string {
	t.Helper()
	c, err := net.Dial("tcp", tg.ln.Addr().String())
	require.NoError(t, err)
	_, _ = c.Write([]byte("SENTINEL"))
	_ = c.Close()
	for {
		<-tg.seen
		tg.mu.Lock()
		last := tg.accepted[len(tg.accepted)-1]
		got := append([]string(nil), tg.accepted[:len(tg.accepted)-1]...)
		if last == "SENTINEL" {
			tg.accepted = nil
		}
		tg.mu.Unlock()
		if last == "SENTINEL" {
			return got
		}
	}
}

func (tg *target) url(path string) string { return "http://" + tg.ln.Addr().String() + path }

func strictConfig() Config {
	c := testConfig()
	c.AllowedHosts = nil
	return c
}

func TestToolsCannotReachPrivateAddresses(t *testing.T) {
	tg := listen(t)
	hook := newHook(t, strictConfig())
	_, port, _ := net.SplitHostPort(tg.ln.Addr().String())
	for _, u := range []string{
		tg.url("/latest/meta-data/iam"),
		"http://localhost:" + port + "/admin", // a name that resolves to loopback
		"http://[::1]:" + port + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/", // loopback, IPv4-mapped
		"http://0.0.0.0:" + port + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://10.1.2.3:8080/",
		"http://100.64.0.1/",
		"http://[fd00::1]/",
	} {
		_, err := hook.InvokeTool(context.Background(), domain.Tool{ID: "crm", URL: u}, ports.ToolInput{})
		var de *domain.Error
		require.ErrorAs(t, err, &de, u)
		assert.Equal(t, "tool crm failed: its address is not allowed", de.Message, u)
	}
	assert.Empty(t, tg.contacts(t), "the loopback target was never contacted")
}

func TestToolRedirectsAreNotFollowed(t *testing.T) {
	tg := listen(t)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tg.url("/latest/meta-data/"), http.StatusFound)
	}))
	t.Cleanup(redirector.Close)
	cfg := strictConfig()
	cfg.AllowedHosts = []string{strings.TrimPrefix(redirector.URL, "http://")} // this host:port only
	hook := newHook(t, cfg)
	_, err := hook.InvokeTool(context.Background(), domain.Tool{ID: "crm", URL: redirector.URL}, ports.ToolInput{})
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "tool crm failed: it answered with a redirect, which tools may not follow", de.Message)
	assert.Empty(t, tg.contacts(t), "the redirect's target was never contacted")

	// Allowing the target's host changes nothing: redirects are never followed.
	cfg.AllowedHosts = []string{"127.0.0.1"}
	_, err = newHook(t, cfg).InvokeTool(context.Background(), domain.Tool{ID: "crm", URL: redirector.URL}, ports.ToolInput{})
	require.Error(t, err)
	assert.Empty(t, tg.contacts(t))
}

// A closed port and a name that does not resolve fail with the same words:
// the reply and the turn record never tell a scanner what is there.
func TestToolFailuresAreGeneric(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := strictConfig()
	cfg.AllowedHosts = []string{"127.0.0.1", "no-such-host.invalid"}
	hook := newHook(t, cfg)
	var messages []string
	for _, u := range []string{"http://" + closed + "/x?api_key=k3y", "http://no-such-host.invalid/x"} {
		_, err := hook.InvokeTool(context.Background(), domain.Tool{ID: "crm", URL: u}, ports.ToolInput{})
		var de *domain.Error
		require.ErrorAs(t, err, &de)
		messages = append(messages, de.Message)
		assert.NotContains(t, err.Error(), "k3y", "the cause kept for logs has the URL redacted")
	}
	assert.Equal(t, []string{"tool crm failed: unreachable", "tool crm failed: unreachable"}, messages)
}

func TestToolOutputsAreBounded(t *testing.T) {
	answer := ""
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(ts.Close)
	cfg := testConfig()
	cfg.MaxOutputBytes, cfg.MaxOutputKeys, cfg.MaxValueBytes = 2048, 3, 100
	hook := newHook(t, cfg)
	many := make([]string, 4)
	for i := range many {
		many[i] = fmt.Sprintf(`"v%d":%d`, i, i)
	}
	for _, tt := range []struct{ answer, msg string }{
		{`{"variables":{"big":"` + strings.Repeat("x", 4096) + `"}}`, "its answer exceeds 2048 bytes"},
		{`{"variables":{` + strings.Join(many, ",") + `}}`, "its answer has more than 3 variables"},
		{`{"variables":{"note":"` + strings.Repeat("x", 200) + `"}}`, `its variable "note" exceeds 100 bytes`},
		{`{"vars":{}}`, `its answer is not {"variables": {...}}`},
		{`{"variables":{"` + strings.Repeat("k", 101) + `":1}}`, `its variable "` + strings.Repeat("k", 64) + `" exceeds 100 bytes`},
		{atTheLimits + " ", "its answer exceeds 2048 bytes"},
	} {
		answer = tt.answer
		_, err := hook.InvokeTool(context.Background(), domain.Tool{ID: "crm", URL: ts.URL}, ports.ToolInput{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "tool crm failed: "+tt.msg)
	}
	answer = `{"variables":{"a":1,"b":"two","c":[3]}}`
	out, err := hook.InvokeTool(context.Background(), domain.Tool{ID: "crm", URL: ts.URL}, ports.ToolInput{})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a": 1.0, "b": "two", "c": []any{3.0}}, out)

	answer = atTheLimits // each limit is inclusive
	out, err = hook.InvokeTool(context.Background(), domain.Tool{ID: "crm", URL: ts.URL}, ports.ToolInput{})
	require.NoError(t, err)
	assert.Len(t, out, 3)
}

// atTheLimits is an answer of exactly 2048 bytes with 3 variables, one of
// them 100 bytes of JSON.
var atTheLimits = func() string {
	s := `{"variables":{"a":1,"b":"` + strings.Repeat("x", 98) + `","c":[3]}}`
	return s + strings.Repeat(" ", 2048-len(s))
}()

// endless is a tool answering status with a body that never ends.
func endless(t *testing.T, status int) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		chunk := []byte(`{"variables":{"x":"` + strings.Repeat("x", 1000))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// A tool streaming an answer without end is cut off at the output limit,
// its error page too: the call fails at once, not at the tool's timeout.
func TestEndlessAnswersAreCutAtTheLimit(t *testing.T) {
	hook := newHook(t, testConfig())
	for status, msg := range map[int]string{200: "its answer exceeds 65536 bytes", 500: "it answered HTTP 500"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := hook.InvokeTool(ctx, domain.Tool{ID: "crm", URL: endless(t, status).URL}, ports.ToolInput{})
		var de *domain.Error
		require.ErrorAs(t, err, &de)
		assert.Equal(t, "tool crm failed: "+msg, de.Message)
		assert.NoError(t, ctx.Err(), "given up at the limit, not at the deadline")
		cancel()
	}
}

// A tool that sends its headers and then stalls times out like one that
// never answers: TIMEOUT, not an unreadable answer.
func TestStalledAnswerIsATimeout(t *testing.T) {
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"variables":`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(stalled.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := newHook(t, testConfig()).InvokeTool(ctx, domain.Tool{ID: "slow", URL: stalled.URL}, ports.ToolInput{})
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, domain.CodeTimeout, de.Code)
	assert.Equal(t, "tool slow failed: timed out", de.Message)
}

// The operator's allow-list matches host names whatever their case.
func TestAllowedHostsIgnoreCase(t *testing.T) {
	tool := newRecordingTool(t, 0)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(tool.URL, "http://"))
	cfg := strictConfig()
	cfg.AllowedHosts = []string{"LocalHost:" + port}
	_, err := newHook(t, cfg).InvokeTool(context.Background(), domain.Tool{ID: "crm", URL: "http://LOCALHOST:" + port + "/"}, ports.ToolInput{})
	require.NoError(t, err)
	assert.Len(t, tool.requests(), 1)
}

func TestPublicAddress(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.3.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "100.127.255.254": false, "0.0.0.0": false,
		"255.255.255.255": false, "224.0.0.1": false, "198.18.0.1": false, "192.0.2.1": false,
		"::1": false, "::": false, "fe80::1": false, "fc00::1": false, "fd12::1": false, "ff02::1": false,
		"::ffff:127.0.0.1": false, "::ffff:8.8.8.8": true, "64:ff9b::a00:1": false, "64:ff9b::808:808": true,
		"2002:a00:1::": false, "2001:db8::1": false,
		"::127.0.0.1": false, "::10.0.0.1": false, "::169.254.169.254": false, "::8.8.8.8": false,
		// Every special-purpose range, by an address inside it.
		"0.1.2.3": false, "192.0.0.8": false, "198.51.100.7": false, "203.0.113.9": false, "240.0.0.1": false,
		"64:ff9b:1::a00:1": false, "100::1": false, "2001::1": false, "2001:0:4136:e378:8000:63bf:3fff:fdd2": false,
		"fec0::1": false, "::ffff:0:a00:1": false, "5f00::1": false, "3fff::1": false,
		// An IPv4-mapped or 6to4 address is judged by the IPv4 address it embeds.
		"::ffff:100.64.0.1": false, "::ffff:192.0.2.1": false, "2002:c0a8:101::": false, "2002:808:808::": true,
	} {
		assert.Equal(t, public, publicAddress(netip.MustParseAddr(addr)), addr)
	}
}

// A tool is called with POST, and the body it receives has exactly the fields docs/agent-bundle.md
// ("Tools") lists, under those names: a tool's author parses them by name,
// so a renamed or added field breaks every receiver written from the docs.
func TestToolBodyHasTheDocumentedFields(t *testing.T) {
	tool := newRecordingTool(t, 0)
	_, err := newHook(t, testConfig()).InvokeTool(context.Background(), domain.Tool{ID: "lookup", URL: tool.URL}, turnInput("tenant-a"))
	require.NoError(t, err)
	got := tool.requests()
	require.Len(t, got, 1)
	assert.Equal(t, http.MethodPost, got[0].method)
	assert.Equal(t, "application/json", got[0].header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(got[0].body, &body))
	assert.Equal(t, map[string]any{
		"message":    "AC-123456",
		"variables":  map[string]any{"order_id": "AC-123456", "n": 2.5, "a": []any{"x"}},
		"rule_id":    "lookup_rule",
		"session_id": "s-1",
		"tenant_id":  "tenant-a",
		"agent_id":   "agent-1",
		"turn_id":    "turn-7",
		"tool_id":    "lookup",
	}, body)
}

// A tool may take as long as its timeout_ms allows, up to the 120 s a
// bundle accepts: the transport sets no wait for the answer's headers of
// its own, which would cut such a tool at that wait and report it
// unreachable rather than timed out.
func TestTheToolsTimeoutAloneBoundsItsAnswer(t *testing.T) {
	hook := newHook(t, testConfig())
	transport, ok := hook.client.Transport.(*http.Transport)
	require.True(t, ok)
	assert.Zero(t, transport.ResponseHeaderTimeout, "a wait for headers shorter than a tool's timeout_ms")
	require.Nil(t, (&domain.Policy{Agent: domain.Agent{ID: "a", Name: "a", Enabled: true},
		Tools: []domain.Tool{{ID: "slow", URL: "https://tools.example.com/slow", TimeoutMS: 120000}}}).Validate(), "a tool of 120 s is accepted")
}

// A tool's hint of when to call again is read as the model providers' is:
// Retry-After in seconds (fractions too) and Retry-After-Ms, which wins.
func TestToolsRetryAfterReadsAsTheModelsDoes(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"Retry-After: 2":                     2 * time.Second,
		"Retry-After: 0.5":                   500 * time.Millisecond,
		"Retry-After-Ms: 1500":               1500 * time.Millisecond,
		"Retry-After-Ms: 250|Retry-After: 9": 250 * time.Millisecond,
		"Retry-After: soon":                  0,
	} {
		t.Run(header, func(t *testing.T) {
			tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				for _, h := range strings.Split(header, "|") {
					name, value, _ := strings.Cut(h, ": ")
					w.Header().Set(name, value)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			t.Cleanup(tool.Close)
			_, err := newHook(t, testConfig()).InvokeTool(context.Background(), domain.Tool{ID: "busy", URL: tool.URL}, ports.ToolInput{})
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, want, se.RetryAfter)
		})
	}
}
