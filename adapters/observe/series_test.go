package observe

import (
	"fmt"
	"strconv"
	"strings"
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

// Found by the address of its values or by their content, a label set's
// child is the one the vector has: values equal to the constants but made
// afresh on each call (as a request's method is), empty values, values
// that are a prefix of others at the same address, and more sets than
// the series has slots, all count where the vector counts them.
func TestSeriesByAddressIsTheVectorsChild(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total"}, []string{"route", "method", "status"})
	s := newSeries(3, vec.WithLabelValues)
	route := "/v1/chat/stream"
	sets := [][3]string{{route, "POST", "200"}, {route[:8], "POST", "200"}, {route[:8], "POS", "200"}, {"", "", ""}, {"", "GET", ""}}
	for i := range 3 * seriesRecent {
		sets = append(sets, [3]string{fmt.Sprintf("/r%d", i), "GET", strconv.Itoa(200 + i%5)})
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for round := range 3 {
				for _, l := range sets {
					if (w+round)%2 == 0 {
						s.get(l[0], l[1], l[2]).Inc()
					} else {
						s.get(strings.Clone(l[0]), strings.Clone(l[1]), strings.Clone(l[2])).Inc()
					}
				}
			}
		})
	}
	wg.Wait()
	for _, l := range sets {
		require.Equal(t, 12.0, testutil.ToFloat64(vec.WithLabelValues(l[0], l[1], l[2])), "%q", l)
	}
	assert.Equal(t, len(sets), testutil.CollectAndCount(vec))
}

// sameString tells strings apart by address and length alone.
func TestSameString(t *testing.T) {
	s := "POST /v1/chat"
	assert.True(t, sameString(s, s))
	assert.True(t, sameString("", strings.Clone("")))
	assert.False(t, sameString(s[:4], s), "a prefix at the same address")
	assert.False(t, sameString(s, strings.Clone(s)), "the same bytes elsewhere")
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
