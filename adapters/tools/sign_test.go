package tools

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// docs:begin verify
// verifySignature checks a Focal-Signature header ("t=<unix>,v1=<hex>")
// against the raw request body, refusing calls older than five minutes.
func verifySignature(header string, body, secret []byte, now time.Time) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sent, 0)).Abs() > 5*time.Minute {
		return errors.New("missing or stale timestamp")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return errors.New("bad signature")
	}
	return nil
}

// docs:end verify

// fixedClock is a ports.Clock that says t.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// After is the wall clock's: nothing here waits on this clock.
func (c fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c fixedClock) AfterFunc(d time.Duration, f func()) ports.Timer { return time.AfterFunc(d, f) }

var signedAt = time.Date(2025, time.January, 15, 9, 0, 0, 0, time.UTC)

// received is one request a fake tool got.
type received struct {
	method string
	header http.Header
	body   []byte
}

// recordingTool answers 503 to the first `failures` calls, then
// {"variables": {"status": "shipped"}}, keeping every request.
type recordingTool struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	failures int
}

func newRecordingTool(t *testing.T, failures int) *recordingTool {
	t.Helper()
	rt := &recordingTool{failures: failures}
	rt.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rt.mu.Lock()
		rt.got = append(rt.got, received{method: r.Method, header: r.Header.Clone(), body: body})
		n := len(rt.got)
		rt.mu.Unlock()
		if n <= rt.failures {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"variables":{"status":"shipped"}}`)
	}))
	t.Cleanup(rt.Close)
	return rt
}

func (rt *recordingTool) requests() []received {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]received(nil), rt.got...)
}

func turnInput(tenant string) ports.ToolInput {
	return ports.ToolInput{Message: "AC-123456", Variables: map[string]any{"order_id": "AC-123456", "n": 2.5, "a": []any{"x"}},
		RuleID: "lookup_rule", SessionID: "s-1", TenantID: tenant, AgentID: "agent-1", TurnID: "turn-7"}
}

// A call retried after a 503 sends the same body under the same key both
// times, and each attempt is signed so a receiver can verify it.
func TestRetriedCallsKeepTheirKeyAndBodyAndAreSigned(t *testing.T) {
	tool := newRecordingTool(t, 1)
	hook := newHook(t, testConfig()).WithClock(fixedClock{signedAt})
	inv := NewResilient(hook, testConfig(), nil, nil)
	secret := "whsec-0123456789abcdef"
	out, err := inv.InvokeTool(context.Background(), domain.Tool{ID: "lookup", URL: tool.URL, Secret: secret}, turnInput("tenant-a"))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"status": "shipped"}, out)

	got := tool.requests()
	require.Len(t, got, 2, "one retry after the 503")
	for _, r := range got {
		assert.Equal(t, "turn-7:lookup", r.header.Get(HeaderIdempotencyKey))
		assert.NoError(t, verifySignature(r.header.Get(HeaderSignature), r.body, []byte(secret), signedAt))
		assert.Error(t, verifySignature(r.header.Get(HeaderSignature), r.body, []byte("another-secret-0123"), signedAt))
		assert.Error(t, verifySignature(r.header.Get(HeaderSignature), r.body, []byte(secret), signedAt.Add(6*time.Minute)), "a replay later is refused")
		tampered := bytes.Replace(r.body, []byte("AC-123456"), []byte("AC-654321"), 1)
		assert.Error(t, verifySignature(r.header.Get(HeaderSignature), tampered, []byte(secret), signedAt))
	}
	assert.Equal(t, got[0].body, got[1].body, "a retry never changes the body")
	assert.Equal(t, "t="+strconv.FormatInt(signedAt.Unix(), 10)+",v1=", got[0].header.Get(HeaderSignature)[:len("t=1736931600,v1=")])
	assert.Contains(t, string(got[0].body), `"turn_id":"turn-7"`)
	assert.Contains(t, string(got[0].body), `"tool_id":"lookup"`)
}

func TestUnsignedToolsStillGetTheKey(t *testing.T) {
	tool := newRecordingTool(t, 0)
	_, err := newHook(t, testConfig()).InvokeTool(context.Background(), domain.Tool{ID: "lookup", URL: tool.URL}, turnInput("tenant-a"))
	require.NoError(t, err)
	got := tool.requests()
	require.Len(t, got, 1)
	assert.Equal(t, "turn-7:lookup", got[0].header.Get(HeaderIdempotencyKey))
	assert.Empty(t, got[0].header.Get(HeaderSignature))
}

// An operator's secret is for the tenant its value names: another
// tenant naming the variable gets no signature and no call.
func TestSecretsFromTheEnvironmentAreTheirTenantsOnly(t *testing.T) {
	t.Setenv(SecretEnvPrefix+"ORDERS", "tenant-a:env-secret-0123456789")
	t.Setenv(SecretEnvPrefix+"UNSCOPED", "env-secret-0123456789")
	tool := newRecordingTool(t, 0)
	hook := newHook(t, testConfig()).WithClock(fixedClock{signedAt})

	_, err := hook.InvokeTool(context.Background(), domain.Tool{ID: "lookup", URL: tool.URL, SecretEnv: "ORDERS"}, turnInput("TENANT-A"))
	require.NoError(t, err)
	got := tool.requests()
	require.Len(t, got, 1)
	assert.NoError(t, verifySignature(got[0].header.Get(HeaderSignature), got[0].body, []byte("env-secret-0123456789"), signedAt))

	t.Setenv(SecretEnvPrefix+"EMPTY", "tenant-a:")
	t.Setenv(SecretEnvPrefix+"NOBODYS", ":env-secret-0123456789")
	for _, tt := range []struct{ env, tenant string }{{"ORDERS", "tenant-b"}, {"UNSCOPED", "tenant-a"}, {"MISSING", "tenant-a"},
		{"EMPTY", "tenant-a"}, {"NOBODYS", ""}} {
		_, err := hook.InvokeTool(context.Background(), domain.Tool{ID: "lookup", URL: tool.URL, SecretEnv: tt.env}, turnInput(tt.tenant))
		var de *domain.Error
		require.ErrorAs(t, err, &de, tt.env)
		assert.Equal(t, "tool lookup failed: its secret is not available", de.Message, tt.env)
	}
	assert.Len(t, tool.requests(), 1, "no unsigned call went out")
}

// The verification snippet of docs/agent-bundle.md is the function above,
// word for word, so the documented way to verify is the tested one.
func TestTheDocumentedVerificationIsTheTestedOne(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	src, err := os.ReadFile(self)
	require.NoError(t, err)
	_, rest, _ := strings.Cut(string(src), "// docs:begin verify\n")
	snippet, _, found := strings.Cut(rest, "\n// docs:end verify")
	require.True(t, found)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "docs", "agent-bundle.md"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(doc), snippet), "docs/agent-bundle.md shows verifySignature as tested here:\n%s", snippet)
}
