package observe

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestTracingConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  TracingConfig
		ok   bool
	}{
		{"off", TracingConfig{ServiceName: "focal", SampleRatio: 1}, true},
		{"http", TracingConfig{Endpoint: "http://collector:4318", ServiceName: "focal", SampleRatio: 0.1}, true},
		{"https with path", TracingConfig{Endpoint: "https://otel.example.com/otlp/v1/traces", ServiceName: "focal", SampleRatio: 0}, true},
		{"no scheme", TracingConfig{Endpoint: "collector:4318", ServiceName: "focal", SampleRatio: 1}, false},
		{"grpc scheme", TracingConfig{Endpoint: "grpc://collector:4317", ServiceName: "focal", SampleRatio: 1}, false},
		{"ratio above 1", TracingConfig{SampleRatio: 1.5}, false},
		{"negative ratio", TracingConfig{SampleRatio: -0.1}, false},
		{"no service name", TracingConfig{Endpoint: "http://collector:4318", SampleRatio: 1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestTracingOffIsNoop(t *testing.T) {
	tr, err := NewTracing(TracingConfig{ServiceName: "focal", SampleRatio: 1}, zap.NewNop())
	require.NoError(t, err)
	_, span := tr.Provider().Tracer("t").Start(t.Context(), "x")
	assert.False(t, span.IsRecording())
	span.End()
	assert.NoError(t, tr.Shutdown(t.Context()))
}

// With an endpoint, spans are batched to <endpoint>/v1/traces and flushed
// on shutdown, under the configured service name.
func TestTracingExportsOverOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var bodies [][]byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.URL.Path)
		bodies = append(bodies, body)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	tr, err := NewTracing(TracingConfig{Endpoint: collector.URL, ServiceName: "focal-test", SampleRatio: 1}, zap.NewNop())
	require.NoError(t, err)
	m := NewMetrics(tr.Provider())
	_, err = m.SessionStore(&fakeStore{}).GetSession(t.Context(), "t", "s")
	require.NoError(t, err)
	require.NoError(t, tr.Shutdown(t.Context()))

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, paths)
	assert.Equal(t, "/v1/traces", paths[0])
	assert.True(t, bytes.Contains(bodies[0], []byte("focal-test")), "service name in the resource")
	assert.True(t, bytes.Contains(bodies[0], []byte("session.get")), "the span")
}

// A ratio of 0 samples no new trace.
func TestTracingSampleRatio(t *testing.T) {
	tr, err := NewTracing(TracingConfig{Endpoint: "http://127.0.0.1:1", ServiceName: "focal", SampleRatio: 0}, zap.NewNop())
	require.NoError(t, err)
	_, span := tr.Provider().Tracer("t").Start(t.Context(), "x")
	assert.False(t, span.SpanContext().IsSampled())
	span.End()
	require.NoError(t, tr.Shutdown(t.Context()))
}
