package observe

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// newTestRouter mimics the real router: request id and panic recovery
// first, then the observing middleware.
func newTestRouter(m *Metrics) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(func(c *gin.Context) {
		c.Header("X-Request-ID", "req-1")
		c.Next()
	}, func(c *gin.Context) {
		defer func() {
			if recover() != nil {
				c.AbortWithStatus(http.StatusInternalServerError)
			}
		}()
		c.Next()
	}, m.GinMiddleware())
	r.GET("/v1/sessions/:id", func(c *gin.Context) {
		if !trace.SpanFromContext(c.Request.Context()).SpanContext().IsValid() {
			c.Status(http.StatusTeapot) // the handler must see the request's span
			return
		}
		c.Status(http.StatusOK)
	})
	r.GET("/v1/missing", func(c *gin.Context) { c.AbortWithStatus(http.StatusNotFound) })
	r.GET("/boom", func(*gin.Context) { panic("boom") })
	r.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusOK) })
	r.GET("/metrics", gin.WrapH(m.Handler()))
	return r
}

func serve(h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestGinMiddlewareCountsByRouteTemplate(t *testing.T) {
	m, _ := newObserved(t)
	r := newTestRouter(m)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/sessions/a", 200}, {"GET", "/v1/sessions/b", 200}, {"GET", "/v1/missing", 404},
		{"GET", "/nowhere", 404}, {"POST", "/healthz", 405}, {"BREW", "/nowhere", 404}, {"GET", "/boom", 500},
	} {
		require.Equal(t, c.status, serve(r, c.method, c.path, nil).Code, c.path)
	}
	for _, c := range []struct {
		route, method, status string
		want                  float64
	}{
		{"/v1/sessions/:id", "GET", "200", 2},
		{"/v1/missing", "GET", "404", 1},
		{"unmatched", "GET", "404", 1},
		{"unmatched", "POST", "405", 1},
		{"unmatched", "OTHER", "404", 1},
		{"/boom", "GET", "500", 1},
	} {
		assert.Equal(t, c.want, testutil.ToFloat64(m.httpRequests.WithLabelValues(c.route, c.method, c.status)), "%+v", c)
	}
	assert.Equal(t, 6, testutil.CollectAndCount(m.httpRequests))
	assert.EqualValues(t, 2, observations(t, m, "focal_http_request_duration_seconds", "route", "/v1/sessions/:id", "method", "GET"))
}

func TestGinMiddlewareContinuesTheCallersTrace(t *testing.T) {
	m, rec := newObserved(t)
	r := newTestRouter(m)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	header := http.Header{"Traceparent": {"00-" + traceID + "-00f067aa0ba902b7-01"}}
	require.Equal(t, http.StatusOK, serve(r, "GET", "/v1/sessions/a", header).Code)
	require.Equal(t, http.StatusInternalServerError, serve(r, "GET", "/boom", nil).Code)
	require.Equal(t, http.StatusNotFound, serve(r, "GET", "/nowhere", nil).Code)

	span := spanNamed(t, rec, "GET /v1/sessions/:id")
	assert.Equal(t, trace.SpanKindServer, span.SpanKind())
	assert.Equal(t, traceID, span.SpanContext().TraceID().String())
	assert.Equal(t, "00f067aa0ba902b7", span.Parent().SpanID().String())
	assert.True(t, span.Parent().IsRemote())
	assert.Equal(t, "/v1/sessions/:id", attr(span, "http.route"))
	assert.Equal(t, "200", attr(span, "http.response.status_code"))
	assert.Equal(t, "req-1", attr(span, "focal.request_id"))
	assert.Equal(t, codes.Unset, span.Status().Code)

	boom := spanNamed(t, rec, "GET /boom")
	assert.Equal(t, "500", attr(boom, "http.response.status_code"))
	assert.Equal(t, codes.Error, boom.Status().Code)
	assert.False(t, boom.Parent().IsValid())

	unmatched := spanNamed(t, rec, "GET")
	assert.Equal(t, "", attr(unmatched, "http.route"))
	assert.Equal(t, "/nowhere", attr(unmatched, "url.path"))
}

// Probes and scrapes are counted but not traced.
func TestGinMiddlewareSkipsSpansForProbes(t *testing.T) {
	m, rec := newObserved(t)
	r := newTestRouter(m)
	require.Equal(t, http.StatusOK, serve(r, "GET", "/healthz", nil).Code)
	assert.Empty(t, rec.Ended())
	assert.Equal(t, 1.0, testutil.ToFloat64(m.httpRequests.WithLabelValues("/healthz", "GET", "200")))
}

// /metrics exposes the private registry: Focal's metrics and the Go and
// process collectors.
func TestHandlerServesTheRegistry(t *testing.T) {
	m, _ := newObserved(t)
	m.BreakerState("openai/gpt-x", BreakerOpen)
	m.StreamOpened()
	r := newTestRouter(m)
	require.Equal(t, http.StatusOK, serve(r, "GET", "/v1/sessions/a", nil).Code)
	w := serve(r, "GET", "/metrics", nil)
	require.Equal(t, http.StatusOK, w.Code)
	body, _ := io.ReadAll(w.Body)
	for _, want := range []string{
		`focal_http_requests_total{method="GET",route="/v1/sessions/:id",status="200"} 1`,
		`focal_circuit_breaker_state{breaker="openai/gpt-x"} 2`,
		`focal_sse_open_streams 1`,
		`go_goroutines `,
		`go_gc_heap_live_bytes `,
		`process_start_time_seconds `,
	} {
		assert.Contains(t, string(body), want)
	}
	assert.False(t, strings.Contains(string(body), "promhttp_metric_handler_requests_total{"),
		"the handler's own counters are not registered unless asked for")
}

func TestBreakerStateAndStreams(t *testing.T) {
	m, _ := newObserved(t)
	m.BreakerState("llm:openai/gpt-x", BreakerOpen)
	m.BreakerState("llm:openai/gpt-x", BreakerHalfOpen)
	m.BreakerState("tool:crm", BreakerClosed)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.breakerState.WithLabelValues("llm:openai/gpt-x")))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.breakerState.WithLabelValues("tool:crm")))

	m.StreamOpened()
	m.StreamOpened()
	m.StreamClosed()
	assert.Equal(t, 1.0, testutil.ToFloat64(m.openStreams))
}

// *Metrics fits the resilience package's Observer by shape.
func TestResilienceObserverShape(t *testing.T) {
	m, _ := newObserved(t)
	var obs interface {
		StateChange(name, from, to string)
		Retry(name string, attempt int, wait time.Duration, err error)
	} = m
	obs.StateChange("openai/gpt-x", "closed", "open")
	assert.Equal(t, 2.0, testutil.ToFloat64(m.breakerState.WithLabelValues("openai/gpt-x")))
	obs.StateChange("openai/gpt-x", "open", "half-open")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.breakerState.WithLabelValues("openai/gpt-x")))
	obs.StateChange("openai/gpt-x", "half-open", "closed")
	assert.Equal(t, 0.0, testutil.ToFloat64(m.breakerState.WithLabelValues("openai/gpt-x")))
	obs.Retry("openai/gpt-x", 1, time.Second, nil)
	obs.Retry("openai/gpt-x", 2, time.Second, nil)
	assert.Equal(t, 2.0, testutil.ToFloat64(m.retries.WithLabelValues("openai/gpt-x")))
}

// Each standard method is labelled by methodLabels' own string, whatever
// string the request's method is; anything else is OTHER.
func TestMethodLabelIsTheLabelsOwnString(t *testing.T) {
	for _, m := range methodLabels {
		fresh := string([]byte(m))
		require.Equal(t, m, methodLabel(fresh))
		require.Same(t, unsafe.StringData(m), unsafe.StringData(methodLabel(fresh)), "%s", m)
	}
	for _, m := range []string{"get", "PROPFIND", "", "POSTX"} {
		require.Equal(t, "OTHER", methodLabel(m))
	}
}

// GinMiddlewareFrom times a request from the reading an earlier middleware
// took as it began, when it has one, and from its own otherwise.
func TestGinMiddlewareFromTimesFromTheRequestsStart(t *testing.T) {
	for name, tc := range map[string]struct {
		started  func(*gin.Context) (time.Time, bool)
		min, max float64
	}{
		"a start an hour ago": {func(*gin.Context) (time.Time, bool) { return time.Now().Add(-time.Hour), true }, 3600, 3660},
		"no start":            {func(*gin.Context) (time.Time, bool) { return time.Time{}, false }, 0, 60},
		"no function":         {nil, 0, 60},
	} {
		t.Run(name, func(t *testing.T) {
			m := NewMetrics(nil)
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			r.Use(m.GinMiddlewareFrom(tc.started))
			r.GET("/v1/ping", func(c *gin.Context) { c.Status(http.StatusOK) })
			require.Equal(t, http.StatusOK, serve(r, http.MethodGet, "/v1/ping", nil).Code)
			h := histogram(t, m, "focal_http_request_duration_seconds", "route", "/v1/ping", "method", "GET")
			require.NotNil(t, h)
			sum := h.GetSampleSum()
			assert.GreaterOrEqual(t, sum, tc.min)
			assert.Less(t, sum, tc.max)
		})
	}
}
