package component

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap/zaptest/observer"

	"focal/domain"
	"focal/ports"
	"focal/test/harness"
)

// metricValue finds one sample by name and labels in a /metrics page.
func metricValue(t *testing.T, families map[string]*dto, name string, labels map[string]string) float64 {
	t.Helper()
	for _, fam := range families {
		for _, s := range fam.samples {
			if string(s.Metric[model.MetricNameLabel]) != name {
				continue
			}
			match := true
			for k, v := range labels {
				match = match && string(s.Metric[model.LabelName(k)]) == v
			}
			if match {
				return float64(s.Value)
			}
		}
	}
	t.Fatalf("no %s sample with labels %v", name, labels)
	return 0
}

type dto struct{ samples model.Vector }

func scrape(t *testing.T, app *harness.App) map[string]*dto {
	t.Helper()
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/metrics"})
	require.Equal(t, http.StatusOK, res.Status)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(res.Body)))
	require.NoError(t, err)
	out := map[string]*dto{}
	for name, f := range fams {
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, f)
		require.NoError(t, err)
		out[name] = &dto{samples: vec}
	}
	return out
}

// storeCalls is how many store calls of the given operations (the metric's
// operation label, e.g. "policy.get") the app has made.
func storeCalls(t *testing.T, app *harness.App, operations ...string) float64 {
	t.Helper()
	n := 0.0
	fam := scrape(t, app)["focal_store_operation_duration_seconds"]
	if fam == nil {
		return 0
	}
	for _, s := range fam.samples {
		if string(s.Metric[model.MetricNameLabel]) == "focal_store_operation_duration_seconds_count" &&
			slices.Contains(operations, string(s.Metric["operation"])) {
			n += float64(s.Value)
		}
	}
	return n
}

// After a few turns the metrics describe them: requests by route and
// status, turns by outcome, engine steps, store operations, streams, and
// the memory store's sessions waiting to be packed.
func TestMetricsAfterAFewTurns(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	for _, msg := range []string{"hello", "what time do you open?", "I want to return my jacket"} {
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("metrics", msg)})
		require.Equal(t, http.StatusOK, res.Status)
	}
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: harness.ChatBody("metrics", "store hours?")})
	require.Equal(t, http.StatusOK, res.Status)
	app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/nowhere", Token: token})

	m := scrape(t, app)
	assert.EqualValues(t, 3, metricValue(t, m, "focal_http_requests_total", map[string]string{"route": "/v1/chat", "method": "POST", "status": "200"}))
	assert.EqualValues(t, 1, metricValue(t, m, "focal_http_requests_total", map[string]string{"route": "unmatched", "status": "404"}))
	assert.EqualValues(t, 4, metricValue(t, m, "focal_turns_total", map[string]string{"outcome": "completed"}))
	assert.EqualValues(t, 4, metricValue(t, m, "focal_turn_duration_seconds_count", map[string]string{"outcome": "completed"}))
	assert.EqualValues(t, 4, metricValue(t, m, "focal_engine_step_duration_seconds_count", map[string]string{"step": "retrieval"}))
	assert.EqualValues(t, 4, metricValue(t, m, "focal_store_operation_duration_seconds_count", map[string]string{"operation": "turn.commit", "outcome": "ok"}))
	assert.EqualValues(t, 0, metricValue(t, m, "focal_sse_open_streams", nil), "the stream closed")
	assert.EqualValues(t, 1, metricValue(t, m, "focal_memory_sessions_awaiting_pack", nil), "the one session, used just now")
	assert.Positive(t, metricValue(t, m, "focal_http_request_duration_seconds_sum", map[string]string{"route": "/v1/chat"}))
}

func TestHealthAndReadiness(t *testing.T) {
	app := harness.Start(t, nil)
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/healthz"})
	assert.Equal(t, http.StatusOK, res.Status)
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/readyz"})
	assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Contains(t, string(res.Body), `"store":"ok"`)
}

// troubledEngine fails or panics on request, else runs the real engine: the
// failures a request can log.
type troubledEngine struct{ inner ports.Engine }

func (e troubledEngine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	switch in.Message {
	case "fail":
		return nil, domain.Errorf(domain.CodeInternal, "the engine broke")
	case "panic":
		panic("the engine panicked")
	}
	return e.inner.RunTurn(ctx, in, sink)
}

// Every log line about a request carries its request_id and, once the
// caller is authenticated, its tenant_id; each request has one access line
// with method, route, status, bytes and latency.
func TestEveryRequestLogLineNamesTheRequestAndTenant(t *testing.T) {
	app, logs := harness.StartObserved(t, map[string]string{"FOCAL_LOG_LEVEL": "debug"},
		fx.Decorate(func(e ports.Engine) ports.Engine { return troubledEngine{e} }))
	token := harness.Token(t, harness.DemoTenant)
	chatTo := func(path, message string) harness.Request {
		return harness.Request{Method: http.MethodPost, Path: path, Token: token, Body: harness.ChatBody("logged", message)}
	}
	requests := []struct {
		req           harness.Request
		authenticated bool
	}{
		{harness.Request{Method: http.MethodGet, Path: "/healthz"}, false},
		{chatTo("/v1/chat", "hello"), true},
		{chatTo("/v1/chat/stream", "what time do you open?"), true},
		{chatTo("/v1/chat", "fail"), true},
		{chatTo("/v1/chat/stream", "fail"), true},
		{chatTo("/v1/chat", "panic"), true},
		{harness.Request{Method: http.MethodGet, Path: "/v1/sessions/66666666-6666-4666-8666-666666666666", Token: token}, true},
		{harness.Request{Method: http.MethodGet, Path: "/v1/agents/" + harness.DemoAgent, Token: token}, true},
		{harness.Request{Method: http.MethodGet, Path: "/v1/sessions", Token: token + "x"}, false},
		{harness.Request{Method: http.MethodGet, Path: "/nowhere"}, false},
	}
	startup := logs.Len()
	for i, r := range requests {
		r.req.Headers = map[string]string{"X-Request-ID": fmt.Sprintf("logged-%d", i)}
		app.Do(t, r.req)
	}

	// The access line is written once the response has gone out: wait
	// for the last of them.
	require.Eventually(t, func() bool { return logs.FilterMessage("request").Len() == len(requests) },
		10*time.Second, 5*time.Millisecond, "an access line per request")
	lines := logs.All()[startup:]
	perRequest := map[string][]observer.LoggedEntry{}
	for _, entry := range lines {
		fields := entry.ContextMap()
		id, ok := fields["request_id"].(string)
		if !assert.True(t, ok, "a line without request_id: %s %v", entry.Message, fields) {
			continue
		}
		perRequest[id] = append(perRequest[id], entry)
	}
	assert.Len(t, perRequest, len(requests), "every request logged, under its own id")
	for i, r := range requests {
		id := fmt.Sprintf("logged-%d", i)
		access := 0
		for _, entry := range perRequest[id] {
			fields := entry.ContextMap()
			if r.authenticated {
				assert.Equal(t, harness.DemoTenant, fields["tenant_id"], "%s %s: %q", r.req.Method, r.req.Path, entry.Message)
			} else {
				assert.NotContains(t, fields, "tenant_id", "%s %s: %q", r.req.Method, r.req.Path, entry.Message)
			}
			if entry.Message == "request" {
				access++
				for _, k := range []string{"method", "route", "status", "bytes", "latency"} {
					assert.Contains(t, fields, k, "the access line of %s %s", r.req.Method, r.req.Path)
				}
			}
		}
		assert.Equal(t, 1, access, "one access line for %s %s", r.req.Method, r.req.Path)
	}
	// The failures were logged with their cause, under their request.
	var messages []string
	for _, entry := range lines {
		messages = append(messages, entry.Message)
	}
	for _, m := range []string{"request failed", "stream failed", "handler panicked", "authentication failed"} {
		assert.Contains(t, messages, m)
	}
}
