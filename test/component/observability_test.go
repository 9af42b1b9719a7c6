package component

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// After a few turns the metrics describe them: requests by route and
// status, turns by outcome, engine steps, store operations, streams.
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
