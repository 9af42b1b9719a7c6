package tools

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// scripted is a tool server answering each call with the next status of
// script (200 with a variable once the script runs out), recording when
// each call arrived.
type scripted struct {
	mu     sync.Mutex
	script []int
	header http.Header
	calls  []time.Time
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	status := http.StatusOK
	if len(s.script) > 0 {
		status, s.script = s.script[0], s.script[1:]
	}
	for k, v := range s.header {
		w.Header()[k] = v
	}
	s.mu.Unlock()
	if status != http.StatusOK {
		w.WriteHeader(status)
		return
	}
	_, _ = io.WriteString(w, `{"variables":{"balance":42}}`)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func serve(t *testing.T, s *scripted) domain.Tool {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return domain.Tool{ID: "balance", URL: ts.URL}
}

// testConfig allows the loopback tool servers these tests start.
func testConfig() Config {
	return Config{MaxRetries: 1, RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, BreakerFailures: 2, BreakerOpen: 150 * time.Millisecond,
		MaxBreakers: 100, AllowedHosts: []string{"127.0.0.1"}, MaxOutputBytes: 65536, MaxOutputKeys: 32, MaxValueBytes: 4096}
}

func newHook(t *testing.T, cfg Config) *Webhook {
	t.Helper()
	w, err := NewWebhook(cfg)
	require.NoError(t, err)
	return w
}

// inputOf is what an agent's engine sends a tool.
func inputOf(tenant string) ports.ToolInput {
	return ports.ToolInput{Message: "x", TenantID: tenant, AgentID: "agent-1"}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	require.NoError(t, env.ParseWithOptions(&c, env.Options{Prefix: "FOCAL_", Environment: map[string]string{}}))
	require.NoError(t, c.Validate())
	assert.Equal(t, 1, c.MaxRetries)
	assert.Equal(t, 5, c.BreakerFailures)
	assert.Equal(t, 65536, c.MaxOutputBytes)
	assert.Empty(t, c.AllowedHosts)
	assert.Error(t, Config{MaxRetries: -1}.Validate())
	bad := c
	bad.AllowedHosts = []string{"http://127.0.0.1/"}
	assert.ErrorContains(t, bad.Validate(), "host or host:port")
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, testConfig().Validate())
	edges := testConfig()
	edges.MaxRetries, edges.RetryMax, edges.BreakerFailures = 5, edges.RetryBase, 1
	edges.MaxOutputBytes, edges.MaxOutputKeys, edges.MaxValueBytes = 1024, 1, 16
	require.NoError(t, edges.Validate(), "every bound is inclusive")
	edges.MaxOutputBytes, edges.MaxValueBytes = 16<<20, 16<<20
	require.NoError(t, edges.Validate())
	const outputs = "FOCAL_TOOLS_MAX_OUTPUT_KEYS must be at least 1 and FOCAL_TOOLS_MAX_VALUE_BYTES 16.."
	for _, tt := range []struct {
		breaks func(*Config)
		msg    string
	}{
		{func(c *Config) { c.MaxRetries = 6 }, "FOCAL_TOOLS_MAX_RETRIES must be 0..5"},
		{func(c *Config) { c.RetryMax = c.RetryBase - 1 }, "FOCAL_TOOLS_RETRY_MAX at least as long"},
		{func(c *Config) { c.BreakerFailures = 0 }, "FOCAL_TOOLS_BREAKER_FAILURES must be at least 1"},
		{func(c *Config) { c.BreakerOpen = 0 }, "FOCAL_TOOLS_BREAKER_OPEN must be positive"},
		{func(c *Config) { c.MaxBreakers = 0 }, "FOCAL_TOOLS_MAX_BREAKERS must be at least 1"},
		{func(c *Config) { c.MaxOutputBytes, c.MaxValueBytes = 1023, 16 }, "FOCAL_TOOLS_MAX_OUTPUT_BYTES must be 1 KiB..16 MiB"},
		{func(c *Config) { c.MaxOutputBytes = 16<<20 + 1 }, "FOCAL_TOOLS_MAX_OUTPUT_BYTES must be 1 KiB..16 MiB"},
		{func(c *Config) { c.MaxOutputKeys = 0 }, outputs},
		{func(c *Config) { c.MaxValueBytes = 15 }, outputs},
		{func(c *Config) { c.MaxValueBytes = c.MaxOutputBytes + 1 }, outputs},
	} {
		c := testConfig()
		tt.breaks(&c)
		err := c.Validate()
		require.ErrorContains(t, err, tt.msg)
		assert.NotContains(t, err.Error(), "\n", "only %q is refused", tt.msg)
	}
}

func TestResilientRetries503(t *testing.T) {
	s := &scripted{script: []int{503}}
	tool := serve(t, s)
	r := NewResilient(newHook(t, testConfig()), testConfig(), nil, nil)
	out, err := r.InvokeTool(context.Background(), tool, ports.ToolInput{Message: "x"})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"balance": 42.0}, out)
	assert.Equal(t, 2, s.count())
}

// retries remembers the waits the guard asked for.
type retries struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *retries) StateChange(string, string, string) {}

func (r *retries) Retry(_ string, _ int, wait time.Duration, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, wait)
}

func (r *retries) all() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

func TestResilientHonoursRetryAfter(t *testing.T) {
	s := &scripted{script: []int{429}, header: http.Header{"Retry-After": {"1"}}}
	tool := serve(t, s)
	clock, heard := clockwork.NewFakeClock(), &retries{}
	r := NewResilient(newHook(t, testConfig()), testConfig(), heard, clock)
	result := make(chan error, 1)
	go func() {
		_, err := r.InvokeTool(context.Background(), tool, ports.ToolInput{})
		result <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, clock.BlockUntilContext(ctx, 1), "the guard waits before the retry")
	clock.Advance(time.Second - time.Nanosecond)
	require.NoError(t, clock.BlockUntilContext(ctx, 1), "and still waits just before the tool's hint")
	assert.Equal(t, 1, s.count())
	clock.Advance(time.Nanosecond)
	require.NoError(t, <-result)
	assert.Equal(t, 2, s.count())
	assert.Equal(t, []time.Duration{time.Second}, heard.all())

	// A Retry-After beyond the tool's timeout is not waited for: the clock
	// never moves, and the call returns before its deadline.
	s2 := &scripted{script: []int{429}, header: http.Header{"Retry-After": {"5"}}}
	tool2 := serve(t, s2)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	_, err := r.InvokeTool(ctx2, tool2, ports.ToolInput{})
	require.Error(t, err)
	assert.NoError(t, ctx2.Err(), "given up at once, not at the deadline")
	assert.Equal(t, 1, s2.count())
	assert.Len(t, heard.all(), 1, "no second wait was asked for")
}

// The breaker opens after FOCAL_TOOLS_BREAKER_FAILURES failed calls in a
// row and lets a call through again after FOCAL_TOOLS_BREAKER_OPEN.
func TestResilientBreakerFollowsTheConfig(t *testing.T) {
	s := &scripted{script: []int{503, 503, 503}}
	tool := serve(t, s)
	cfg := testConfig()
	cfg.MaxRetries, cfg.BreakerFailures, cfg.BreakerOpen = 0, 3, time.Minute
	clock := clockwork.NewFakeClock()
	r := NewResilient(newHook(t, cfg), cfg, nil, clock)
	for range 2 {
		_, err := r.InvokeTool(context.Background(), tool, inputOf("tenant-a"))
		require.ErrorContains(t, err, "it answered HTTP 503")
	}
	assert.Equal(t, "closed", r.BreakerState("tenant-a", "agent-1", tool.ID))
	_, err := r.InvokeTool(context.Background(), tool, inputOf("tenant-a"))
	require.Error(t, err)
	assert.Equal(t, "open", r.BreakerState("tenant-a", "agent-1", tool.ID))

	_, err = r.InvokeTool(context.Background(), tool, inputOf("tenant-a"))
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, time.Minute, de.RetryAfter)
	clock.Advance(time.Minute - time.Nanosecond)
	_, err = r.InvokeTool(context.Background(), tool, inputOf("tenant-a"))
	require.ErrorContains(t, err, "switched off")
	assert.Equal(t, 3, s.count())
	clock.Advance(time.Nanosecond)
	_, err = r.InvokeTool(context.Background(), tool, inputOf("tenant-a"))
	require.NoError(t, err)
	assert.Equal(t, "closed", r.BreakerState("tenant-a", "agent-1", tool.ID))
}

// Retries wait FOCAL_TOOLS_RETRY_BASE at first (±50%), doubling up to
// FOCAL_TOOLS_RETRY_MAX.
func TestResilientBackoffFollowsTheConfig(t *testing.T) {
	s := &scripted{script: []int{503, 503, 503, 503, 503, 503}}
	tool := serve(t, s)
	cfg := testConfig()
	cfg.MaxRetries, cfg.RetryBase, cfg.RetryMax, cfg.BreakerFailures = 5, 10*time.Millisecond, 40*time.Millisecond, 10
	clock, heard := clockwork.NewFakeClock(), &retries{}
	r := NewResilient(newHook(t, cfg), cfg, heard, clock)
	result := make(chan error, 1)
	go func() {
		_, err := r.InvokeTool(context.Background(), tool, ports.ToolInput{})
		result <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 5 {
		require.NoError(t, clock.BlockUntilContext(ctx, 1))
		clock.Advance(time.Second)
	}
	require.ErrorContains(t, <-result, "it answered HTTP 503")
	assert.Equal(t, 6, s.count())
	waits := heard.all()
	require.Len(t, waits, 5)
	assert.True(t, waits[0] >= 5*time.Millisecond && waits[0] <= 15*time.Millisecond, "first wait %v", waits[0])
	assert.True(t, waits[4] >= 20*time.Millisecond && waits[4] <= 60*time.Millisecond, "capped wait %v", waits[4])
}

// FOCAL_TOOLS_MAX_BREAKERS bounds the breakers kept: past it the least
// recently used one is forgotten, which closes it.
func TestResilientKeepsAtMostMaxBreakers(t *testing.T) {
	tool := serve(t, &scripted{script: []int{503}})
	cfg := testConfig()
	cfg.MaxRetries, cfg.BreakerFailures, cfg.MaxBreakers = 0, 1, 1
	r := NewResilient(newHook(t, cfg), cfg, nil, clockwork.NewFakeClock())
	_, err := r.InvokeTool(context.Background(), tool, inputOf("tenant-b"))
	require.Error(t, err)
	assert.Equal(t, "open", r.BreakerState("tenant-b", "agent-1", tool.ID))
	_, err = r.InvokeTool(context.Background(), tool, inputOf("tenant-a"))
	require.NoError(t, err)
	assert.Equal(t, "closed", r.BreakerState("tenant-b", "agent-1", tool.ID), "tenant B's breaker made room for A's")
}

func TestResilientDoesNotRetryClientErrors(t *testing.T) {
	s := &scripted{script: []int{400, 400, 400, 400}}
	tool := serve(t, s)
	r := NewResilient(newHook(t, testConfig()), testConfig(), nil, nil)
	for range 4 {
		_, err := r.InvokeTool(context.Background(), tool, ports.ToolInput{})
		assert.Equal(t, domain.CodeInternal, domain.ErrorCodeOf(err))
	}
	assert.Equal(t, 4, s.count())
	assert.Equal(t, "closed", r.BreakerState("", "", tool.ID), "4xx does not trip the breaker")
}

// Breakers are per tenant, agent and tool: tenant B's failing "crm" tool,
// on the same host as tenant A's "crm", opens B's breaker only.
func TestResilientBreakerPerTenantAgentAndTool(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in ports.ToolInput
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		calls[in.TenantID]++
		mu.Unlock()
		if in.TenantID == "tenant-b" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"variables":{"balance":42}}`)
	}))
	t.Cleanup(ts.Close)
	crm := domain.Tool{ID: "crm", URL: ts.URL}
	r := NewResilient(newHook(t, testConfig()), testConfig(), nil, nil)

	for range 2 { // two failed calls (each retried once) open B's breaker
		_, err := r.InvokeTool(context.Background(), crm, inputOf("tenant-b"))
		require.Error(t, err)
	}
	assert.Equal(t, "open", r.BreakerState("tenant-b", "agent-1", "crm"))
	mu.Lock()
	bCalls := calls["tenant-b"]
	mu.Unlock()
	_, err := r.InvokeTool(context.Background(), crm, inputOf("tenant-b"))
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, domain.CodeInternal, de.Code)
	assert.Equal(t, "tool crm failed: switched off for a while after repeated failures", de.Message)
	assert.Greater(t, de.RetryAfter, time.Duration(0))
	mu.Lock()
	assert.Equal(t, bCalls, calls["tenant-b"], "an open breaker keeps calls away from the tool")
	mu.Unlock()

	for range 5 {
		out, err := r.InvokeTool(context.Background(), crm, inputOf("tenant-a"))
		require.NoError(t, err, "tenant A's crm has its own breaker")
		assert.Equal(t, map[string]any{"balance": 42.0}, out)
	}
	assert.Equal(t, "closed", r.BreakerState("tenant-a", "agent-1", "crm"))
	other := inputOf("tenant-b")
	other.AgentID = "agent-2"
	_, err = r.InvokeTool(context.Background(), crm, other)
	assert.NotContains(t, err.Error(), "switched off", "so has another agent of the same tenant")
}

// A tool that never answers is given up at the tool's timeout with
// TIMEOUT: a call that waited for the tool would never return.
func TestResilientKeepsTheToolTimeout(t *testing.T) {
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets net/http notice the client leave
		<-r.Context().Done()
	}))
	t.Cleanup(silent.Close)
	r := NewResilient(newHook(t, testConfig()), testConfig(), nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := r.InvokeTool(ctx, domain.Tool{ID: "slow", URL: silent.URL}, ports.ToolInput{})
	assert.Equal(t, domain.CodeTimeout, domain.ErrorCodeOf(err))

	// A call whose time is up before it starts never reaches the tool, and
	// says so in the tool's words.
	s := &scripted{}
	_, err = r.InvokeTool(ctx, serve(t, s), ports.ToolInput{})
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "tool balance failed: timed out", de.Message)
	assert.Zero(t, s.count())
}
