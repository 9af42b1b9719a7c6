package observe

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each set of label values has its own child, the vector's own: values
// that share the first label and differ in a later one are not mixed up,
// and asking again, from many goroutines, finds the same child.
func TestSeriesFindsTheVectorsChildOfEachLabelSet(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total"}, []string{"route", "method", "status"})
	s := newSeries(3, vec.WithLabelValues)
	sets := [][3]string{
		{"/v1/chat", "POST", "200"}, {"/v1/chat", "POST", "429"}, {"/v1/chat", "GET", "200"},
		{"/v1/chat/stream", "POST", "200"}, {"", "", ""},
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, l := range sets {
				for range i + 1 {
					s.get(l[0], l[1], l[2]).Inc()
				}
			}
		})
	}
	wg.Wait()
	for i, l := range sets {
		require.Equal(t, float64(8*(i+1)), testutil.ToFloat64(vec.WithLabelValues(l[0], l[1], l[2])), "%v", l)
	}
	assert.Equal(t, len(sets), testutil.CollectAndCount(vec))
}

// A vector with fewer labels is asked for its own count of values.
func TestSeriesOfOneLabel(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turns_total"}, []string{"outcome"})
	s := newSeries(1, vec.WithLabelValues)
	s.get("ok", "", "").Inc()
	s.get("ok", "", "").Inc()
	s.get("failed", "", "").Inc()
	assert.Equal(t, 2.0, testutil.ToFloat64(vec.WithLabelValues("ok")))
	assert.Equal(t, 1.0, testutil.ToFloat64(vec.WithLabelValues("failed")))
}

// BenchmarkSeriesGet is one turn's worth of lookups: a request's two, a
// store call's, a turn's and its steps'.
func BenchmarkSeriesGet(b *testing.B) {
	vec3 := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total"}, []string{"route", "method", "status"})
	vec2 := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total"}, []string{"op", "outcome"})
	vec1 := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steps_total"}, []string{"step"})
	requests, calls, steps := newSeries(3, vec3.WithLabelValues), newSeries(2, vec2.WithLabelValues), newSeries(1, vec1.WithLabelValues)
	ops := []string{"session.lock", "turn.recent", "turn.commit", "lease.release", "policy.version"}
	names := []string{"match", "scenario", "tools", "generate", "enforce", "render", "commit", "history"}
	for _, op := range ops {
		calls.get(op, "conflict", "")
	}
	b.ReportAllocs()
	for b.Loop() {
		requests.get("/v1/chat", "POST", "200").Inc()
		for _, op := range ops {
			calls.get(op, "ok", "").Inc()
		}
		for _, name := range names {
			steps.get(name, "", "").Inc()
		}
	}
}
