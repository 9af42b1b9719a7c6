package observe

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// newObserved returns metrics whose spans land in the returned recorder.
func newObserved(t *testing.T) (*Metrics, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	return NewMetrics(tp), rec
}

// histogram returns the histogram of name whose labels are exactly
// labels (name, value pairs), or nil when it has no samples.
func histogram(t *testing.T, m *Metrics, name string, labels ...string) *dto.Histogram {
	t.Helper()
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, mt := range f.GetMetric() {
			if len(mt.GetLabel()) != len(want) {
				continue
			}
			for _, lp := range mt.GetLabel() {
				if want[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return mt.GetHistogram()
		}
	}
	return nil
}

// observations is how many samples a histogram series holds.
func observations(t *testing.T, m *Metrics, name string, labels ...string) uint64 {
	t.Helper()
	return histogram(t, m, name, labels...).GetSampleCount()
}

// spanNamed returns the one ended span called name.
func spanNamed(t *testing.T, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "spans named %q", name)
	return found[0]
}

// attr returns a span attribute's value as text ("" when absent).
func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}
