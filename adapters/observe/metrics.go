// Package observe is Focal's observability adapter: Prometheus metrics and
// OpenTelemetry traces, recorded by decorators around the ports (stores,
// models, the engine) and by a gin middleware, so the core never knows it is
// being watched. One decorator per port records both metrics and spans.
package observe

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"focal/adapters/clock"
	"focal/domain"
)

// latencyBuckets spans a sub-millisecond store call to a slow model reply
// (seconds).
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// modelCallBuckets count model calls per turn: 0 when a template answers,
// 1 for a generated reply, more with judges and regenerations.
var modelCallBuckets = []float64{0, 1, 2, 3, 4, 6, 8}

// Breaker states as BreakerState records them.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// Metrics owns Focal's Prometheus registry and the tracer its decorators
// start spans with. Its methods wrap ports; the wrappers are safe for
// concurrent use whenever the wrapped port is.
type Metrics struct {
	registry *prometheus.Registry
	tracer   trace.Tracer
	// tracing is false when spans go nowhere; decorators then skip building
	// them, which on the hot path is most of their cost.
	tracing    bool
	propagator propagation.TextMapPropagator

	httpRequests *prometheus.CounterVec
	httpDuration *shardedHistograms
	openStreams  prometheus.Gauge

	turnDuration *shardedHistograms
	turns        *prometheus.CounterVec
	stepDuration *shardedHistograms
	turnTokens   *prometheus.CounterVec
	// turnModelCalls is modelCalls' one child.
	turnModelCalls prometheus.Observer
	modelCalls     *shardedHistograms

	modelDuration *prometheus.HistogramVec
	modelTTFT     *prometheus.HistogramVec
	modelTokens   *prometheus.CounterVec
	modelErrors   *prometheus.CounterVec
	embedDuration *prometheus.HistogramVec
	embedErrors   *prometheus.CounterVec

	breakerState  *prometheus.GaugeVec
	toolBreakers  prometheus.Gauge
	retries       *prometheus.CounterVec
	storeDuration *shardedHistograms
	mongoCommands *prometheus.CounterVec
	pgStatements  *prometheus.CounterVec

	// models and breakers admit the label values that tenants' agents can
	// choose (an agent names its model, and model breakers are per model).
	models   *boundedValues
	breakers *boundedValues

	// The children of the vectors every request, turn and store call
	// records into.
	httpRequestsOf  *series[prometheus.Counter]
	httpDurationOf  *series[prometheus.Observer]
	turnsOf         *series[prometheus.Counter]
	turnDurationOf  *series[prometheus.Observer]
	stepDurationOf  *series[prometheus.Observer]
	turnTokensOf    *series[prometheus.Counter]
	storeDurationOf *series[prometheus.Observer]
}

// Label values admitted per family before the rest are counted as "other".
const (
	maxModelLabels   = 32
	maxBreakerLabels = 64
	otherLabel       = "other"
)

// boundedValues admits at most max distinct label values and maps the rest
// to "other": a label fed by what tenants write cannot grow the series, or
// the scrape, without bound. The values seen are a map copied when one
// joins (at most max times): every committed turn admits its model, and a
// read-locked RWMutex was two atomic adds on one line both cores' turns
// wrote.
type boundedValues struct {
	mu   sync.Mutex // serialises joins
	seen atomic.Pointer[map[string]bool]
	max  int
}

func newBoundedValues(max int) *boundedValues {
	b := &boundedValues{max: max}
	b.seen.Store(&map[string]bool{})
	return b
}

// admit returns v if it is, or can still become, one of the admitted
// values, else "other".
func (b *boundedValues) admit(v string) string {
	if (*b.seen.Load())[v] {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.seen.Load()
	if old[v] {
		return v
	}
	if len(old) >= b.max {
		return otherLabel
	}
	m := make(map[string]bool, len(old)+1)
	maps.Copy(m, old)
	m[v] = true
	b.seen.Store(&m)
	return v
}

// NewMetrics returns the metrics on a private registry (with the Go and
// process collectors) and decorators that trace through tp; a nil tp traces
// nothing.
func NewMetrics(tp trace.TracerProvider) *Metrics {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	_, off := tp.(noop.TracerProvider)
	m := &Metrics{
		registry:   prometheus.NewRegistry(),
		tracer:     tp.Tracer("focal/adapters/observe"),
		tracing:    !off,
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		models:     newBoundedValues(maxModelLabels),
		breakers:   newBoundedValues(maxBreakerLabels),
	}
	// go_gc_heap_live_bytes (what the last collection found live) beside
	// the defaults: with a GC headroom, RSS follows it one for one.
	m.registry.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(m.httpFamilies()...)
	m.registry.MustRegister(m.turnFamilies()...)
	m.registry.MustRegister(m.modelFamilies()...)
	m.registry.MustRegister(m.dependencyFamilies()...)
	m.httpRequestsOf = newSeries(3, m.httpRequests.WithLabelValues)
	m.httpDurationOf = newSeries(2, m.httpDuration.WithLabelValues)
	m.turnsOf = newSeries(1, m.turns.WithLabelValues)
	m.turnDurationOf = newSeries(1, m.turnDuration.WithLabelValues)
	m.stepDurationOf = newSeries(1, m.stepDuration.WithLabelValues)
	m.turnTokensOf = newSeries(2, m.turnTokens.WithLabelValues)
	m.storeDurationOf = newSeries(2, m.storeDuration.WithLabelValues)
	return m
}

// httpFamilies creates the metrics of HTTP requests and streams.
func (m *Metrics) httpFamilies() []prometheus.Collector {
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_http_requests_total", Help: "HTTP requests by route template, method and status.",
	}, []string{"route", "method", "status"})
	m.httpDuration = newShardedHistograms("focal_http_request_duration_seconds",
		"HTTP request duration (a stream's whole life for SSE routes).", "route", "method")
	m.openStreams = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "focal_sse_open_streams", Help: "Server-Sent Event streams open now.",
	})
	return []prometheus.Collector{m.httpRequests, m.httpDuration, m.openStreams}
}

// turnFamilies creates the metrics of committed turns and engine steps.
func (m *Metrics) turnFamilies() []prometheus.Collector {
	m.turnDuration = newShardedHistograms("focal_turn_duration_seconds",
		"Latency of committed turns by outcome (completed, failed, interrupted).", "outcome")
	m.turns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_turns_total", Help: "Committed turns by outcome (completed, failed, interrupted).",
	}, []string{"outcome"})
	m.stepDuration = newShardedHistograms("focal_engine_step_duration_seconds",
		"Duration of each alignment engine step of committed turns.", "step")
	m.turnTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_turn_tokens_total", Help: "Model tokens spent by committed turns, by model and kind (prompt, completion).",
	}, []string{"model", "kind"})
	m.modelCalls = shardedHistogramsOf(shardCount(), prometheus.HistogramOpts{
		Name: "focal_turn_model_calls", Help: "Model calls per committed turn.", Buckets: modelCallBuckets,
	})
	m.turnModelCalls = m.modelCalls.WithLabelValues()
	return []prometheus.Collector{m.turnDuration, m.turns, m.stepDuration, m.turnTokens, m.modelCalls}
}

// modelFamilies creates the metrics of chat model and embedding calls.
func (m *Metrics) modelFamilies() []prometheus.Collector {
	m.modelDuration = histogramVec("focal_model_request_duration_seconds",
		"Chat model request duration, success or not.", "provider", "model")
	m.modelTTFT = histogramVec("focal_model_time_to_first_token_seconds",
		"Time from a chat model request to its first streamed text.", "provider", "model")
	m.modelTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_model_tokens_total", Help: "Tokens reported by chat model replies, by kind (prompt, completion).",
	}, []string{"provider", "model", "kind"})
	m.modelErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_model_errors_total", Help: "Failed chat model requests by error code.",
	}, []string{"provider", "model", "code"})
	m.embedDuration = histogramVec("focal_embedding_request_duration_seconds",
		"Embedding request duration, success or not.", "provider", "model")
	m.embedErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_embedding_errors_total", Help: "Failed embedding requests by error code.",
	}, []string{"provider", "model", "code"})
	return []prometheus.Collector{m.modelDuration, m.modelTTFT, m.modelTokens, m.modelErrors, m.embedDuration, m.embedErrors}
}

// dependencyFamilies creates the metrics of breakers, retries and stores.
func (m *Metrics) dependencyFamilies() []prometheus.Collector {
	m.breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "focal_circuit_breaker_state", Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
	}, []string{"breaker"})
	m.toolBreakers = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "focal_tool_breakers_open", Help: "Tool circuit breakers (one per tenant, agent and tool) open now.",
	})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_resilience_retries_total", Help: "Retried model and tool calls by breaker name.",
	}, []string{"breaker"})
	m.storeDuration = newShardedHistograms("focal_store_operation_duration_seconds",
		"Store operation latency by operation and outcome (ok or error code).", "operation", "outcome")
	m.mongoCommands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_mongo_commands_total", Help: "Commands sent to MongoDB (round trips) by command name.",
	}, []string{"command"})
	m.pgStatements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "focal_postgres_statements_total", Help: "Statements sent to PostgreSQL (round trips) by statement name.",
	}, []string{"statement"})
	return []prometheus.Collector{m.breakerState, m.toolBreakers, m.retries, m.storeDuration, m.mongoCommands, m.pgStatements}
}

func histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels)
}

// Registry is the private registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// BreakerState records a circuit breaker's state (BreakerClosed,
// BreakerHalfOpen or BreakerOpen) under its name.
func (m *Metrics) BreakerState(name string, state int) {
	m.breakerState.WithLabelValues(m.breakers.admit(name)).Set(float64(state))
}

// StateChange records breaker name entering state to ("closed",
// "half-open" or "open"); with Retry it makes *Metrics fit the resilience
// package's Observer without either package knowing the other.
func (m *Metrics) StateChange(name, _, to string) {
	switch to {
	case "closed":
		m.BreakerState(name, BreakerClosed)
	case "half-open":
		m.BreakerState(name, BreakerHalfOpen)
	case "open":
		m.BreakerState(name, BreakerOpen)
	}
}

// Retry counts one retry of a call guarded by breaker name.
func (m *Metrics) Retry(name string, _ int, _ time.Duration, _ error) {
	m.retries.WithLabelValues(m.breakers.admit(name)).Inc()
}

// ToolBreakers is the observer of tool breakers. Their names carry tenant,
// agent and tool ids, so unlike model breakers they never become label
// values (the label set would grow with every tenant's tools and show
// them to every scraper): open ones are counted, retries summed under
// breaker="tools".
func (m *Metrics) ToolBreakers() ToolBreakerMetrics { return ToolBreakerMetrics{m} }

// ToolBreakerMetrics records tool breakers without their names.
type ToolBreakerMetrics struct{ m *Metrics }

// StateChange implements the resilience Observer.
func (t ToolBreakerMetrics) StateChange(_, from, to string) {
	if to == "open" {
		t.m.toolBreakers.Inc()
	}
	if from == "open" {
		t.m.toolBreakers.Dec()
	}
}

// Retry implements the resilience Observer.
func (t ToolBreakerMetrics) Retry(string, int, time.Duration, error) {
	t.m.retries.WithLabelValues("tools").Inc()
}

// StreamOpened counts an SSE stream as open.
func (m *Metrics) StreamOpened() { m.openStreams.Inc() }

// StreamClosed counts an SSE stream as closed.
func (m *Metrics) StreamClosed() { m.openStreams.Dec() }

// Outcome labels besides error codes.
const (
	outcomeOK       = "ok"
	outcomeCanceled = "canceled"
)

// outcomeOf labels a call's result: "ok", the error's code, "canceled"
// when the caller gave up, TIMEOUT for a bare deadline.
func outcomeOf(err error) string {
	if err == nil {
		return outcomeOK
	}
	return failureOutcome(err)
}

// failureOutcome is outcomeOf for an error; apart, so a call that
// succeeded does not allocate the target errors.As needs.
func failureOutcome(err error) string {
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		return string(de.Code)
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return string(domain.CodeTimeout)
	}
	return string(domain.CodeInternal)
}

// isFailure reports whether an outcome is a fault (marked as an error on
// spans) rather than an expected answer such as NOT_FOUND or SESSION_BUSY.
func isFailure(outcome string) bool {
	switch domain.ErrorCode(outcome) {
	case domain.CodeInternal, domain.CodeStoreUnavailable, domain.CodeLLMError, domain.CodeLLMUnavailable, domain.CodeTimeout:
		return true
	}
	return false
}

// seconds converts milliseconds to seconds.
func seconds(ms float64) float64 { return ms / 1000 }

// since is the time elapsed from start in seconds.
func since(start time.Time) float64 { return time.Since(start).Seconds() }

// stopwatch is a clock.Mono reading, for timing what the hot paths time
// (every request and every store call) without reading the wall clock.
type stopwatch time.Duration

// startWatch is a stopwatch started now.
func startWatch() stopwatch { return stopwatch(clock.Mono()) }

// watchFrom is a stopwatch started at t, a reading of the clock the caller
// has made (with its monotonic reading, as time.Now's are).
func watchFrom(t time.Time) stopwatch { return stopwatch(clock.MonoOf(t)) }

// seconds is the time elapsed since the stopwatch started, in seconds.
func (w stopwatch) seconds() float64 { return (clock.Mono() - time.Duration(w)).Seconds() }

// MongoCommand counts one command sent to MongoDB: a round trip.
func (m *Metrics) MongoCommand(name string) { m.mongoCommands.WithLabelValues(name).Inc() }

// PostgresStatement counts one statement sent to PostgreSQL: a round trip.
// Statement names are the store's own constants, so the label is bounded.
func (m *Metrics) PostgresStatement(name string) { m.pgStatements.WithLabelValues(name).Inc() }
