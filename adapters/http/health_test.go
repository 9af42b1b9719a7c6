package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/domain"
	"focal/ports"
)

// newProbeRouter builds the real router with the given routes and extra
// middleware.
func newProbeRouter(t *testing.T, routes []Routes, extra ...gin.HandlerFunc) http.Handler {
	t.Helper()
	auth, err := NewAuthenticator(AuthConfig{Secret: strings.Repeat("s", 32)}, clock.System{})
	require.NoError(t, err)
	limits := NewRateLimits(RateLimitConfig{Free: 10, Pro: 10, Enterprise: 10, Window: time.Minute, MaxOpenStreams: 1},
		memory.NewRateLimiter(clock.System{}), clock.System{})
	return NewRouter(Config{MaxBodyBytes: 1 << 20}, zap.NewNop(), auth, limits, routes, extra...)
}

func probeGet(h http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func staticCheck(name string, err error) ReadinessCheck {
	return ReadinessCheck{Name: name, Probe: ports.ReadyFunc(func(context.Context) error { return err })}
}

func TestHealthzAlwaysOK(t *testing.T) {
	h := newProbeRouter(t, []Routes{NewHealthRoutes([]ReadinessCheck{staticCheck("store", errors.New("down"))})})
	w := probeGet(h, "/healthz")
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"status":"ok"}`, w.Body.String())
}

func TestReadyz(t *testing.T) {
	cases := []struct {
		name    string
		checks  []ReadinessCheck
		status  int
		code    domain.ErrorCode
		details []domain.FieldError
		body    string
	}{
		{name: "no checks", status: http.StatusOK, body: `{"status":"ready","checks":{}}`},
		{name: "all pass", checks: []ReadinessCheck{staticCheck("store", nil), staticCheck("llm", nil)},
			status: http.StatusOK, body: `{"status":"ready","checks":{"store":"ok","llm":"ok"}}`},
		{name: "store fails", checks: []ReadinessCheck{staticCheck("store", errors.New("connection refused")), staticCheck("llm", nil)},
			status: http.StatusServiceUnavailable, code: domain.CodeStoreUnavailable,
			details: []domain.FieldError{{Field: "llm", Message: "ok"}, {Field: "store", Message: "connection refused"}}},
		{name: "store and llm fail", checks: []ReadinessCheck{staticCheck("store", errors.New("no primary")),
			staticCheck("llm", domain.Errorf(domain.CodeLLMUnavailable, "every model breaker is open"))},
			status: http.StatusServiceUnavailable, code: domain.CodeStoreUnavailable,
			details: []domain.FieldError{{Field: "llm", Message: "every model breaker is open"}, {Field: "store", Message: "no primary"}}},
		{name: "llm fails", checks: []ReadinessCheck{staticCheck("store", nil), staticCheck("llm", errors.New("every breaker open"))},
			status: http.StatusServiceUnavailable, code: domain.CodeLLMUnavailable,
			details: []domain.FieldError{{Field: "llm", Message: "every breaker open"}, {Field: "store", Message: "ok"}}},
		{name: "check panics", checks: []ReadinessCheck{{Name: "llm", Probe: ports.ReadyFunc(func(context.Context) error { panic("boom") })}},
			status: http.StatusServiceUnavailable, code: domain.CodeLLMUnavailable,
			details: []domain.FieldError{{Field: "llm", Message: "check panicked: boom"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := probeGet(newProbeRouter(t, []Routes{NewHealthRoutes(tc.checks)}), "/readyz")
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.body != "" {
				assert.JSONEq(t, tc.body, w.Body.String())
				return
			}
			var body ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			assert.Equal(t, tc.code, body.Error.Code)
			assert.Equal(t, tc.details, body.Error.Details)
			assert.NotEmpty(t, body.Error.RequestID)
		})
	}
}

// Checks run concurrently, each bounded by the timeout even when it
// ignores its context.
func TestReadyzChecksRunConcurrentlyWithTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var started sync.WaitGroup
	started.Add(2)
	waitBoth := func(context.Context) error {
		started.Done()
		started.Wait() // returns only if the other check runs at the same time
		return nil
	}
	hr := NewHealthRoutes([]ReadinessCheck{
		{Name: "store", Probe: ports.ReadyFunc(waitBoth)},
		{Name: "llm", Probe: ports.ReadyFunc(waitBoth)},
		{Name: "slow", Probe: ports.ReadyFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })},
		{Name: "stuck", Probe: ports.ReadyFunc(func(context.Context) error { <-release; return nil })},
	})
	hr.timeout = 50 * time.Millisecond
	router := newProbeRouter(t, []Routes{hr})
	answered := make(chan *httptest.ResponseRecorder, 1)
	go func() { answered <- probeGet(router, "/readyz") }()
	var w *httptest.ResponseRecorder
	select {
	case w = <-answered: // the stuck check, still stuck, did not hold the answer
	case <-time.After(30 * time.Second):
		t.Fatal("/readyz waited for a check past its timeout")
	}
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	var body ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, domain.CodeLLMUnavailable, body.Error.Code)
	assert.Equal(t, []domain.FieldError{
		{Field: "llm", Message: "ok"},
		{Field: "slow", Message: "no answer within 50ms"},
		{Field: "store", Message: "ok"},
		{Field: "stuck", Message: "no answer within 50ms"},
	}, body.Error.Details)
}

func TestMetricsRouteIsPublic(t *testing.T) {
	h := newProbeRouter(t, []Routes{NewMetricsRoutes(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("focal_up 1\n"))
	}), "")})
	w := probeGet(h, "/metrics")
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "focal_up 1\n", w.Body.String())
}

// With FOCAL_METRICS_TOKEN set, /metrics answers only requests bearing it.
func TestMetricsRouteBehindItsToken(t *testing.T) {
	const token = "metrics-token-0123456789"
	h := newProbeRouter(t, []Routes{NewMetricsRoutes(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("focal_up 1\n"))
	}), token)})
	for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Basic " + token, "Bearer " + token + "x"} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		assert.Equal(t, http.StatusUnauthorized, w.Code, auth)
		assert.NotContains(t, w.Body.String(), "focal_up")
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "focal_up 1\n", w.Body.String())
}

// Extra middleware sees every request, including those that end in 404,
// 405, 401 and panics, with the request id already set.
func TestRouterExtraMiddlewareSeesEveryRequest(t *testing.T) {
	type seen struct {
		route     string
		status    int
		requestID string
	}
	var mu sync.Mutex
	var got []seen
	observer := func(c *gin.Context) {
		c.Next()
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seen{c.FullPath(), c.Writer.Status(), c.Writer.Header().Get("X-Request-ID")})
	}
	h := newProbeRouter(t, []Routes{NewHealthRoutes(nil), panicRoutes{}}, observer)
	for path, want := range map[string]int{"/healthz": 200, "/nowhere": 404, "/v1/boom": 401} {
		assert.Equal(t, want, probeGet(h, path).Code, path)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/healthz", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, http.StatusInternalServerError, probeGet(h, "/boom").Code)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 4, "the panicking request unwinds past the observer's code after c.Next")
	statuses := map[int]bool{}
	for _, s := range got {
		statuses[s.status] = true
		assert.NotEmpty(t, s.requestID)
	}
	assert.Equal(t, map[int]bool{200: true, 404: true, 401: true, 405: true}, statuses)
}

type panicRoutes struct{}

func (panicRoutes) Register(public *gin.RouterGroup, v1 *gin.RouterGroup) {
	public.GET("/boom", func(*gin.Context) { panic("boom") })
	v1.GET("/boom", func(*gin.Context) { panic("boom") })
}
