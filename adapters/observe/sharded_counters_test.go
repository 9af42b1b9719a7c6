package observe

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// Sharded counters export what one CounterVec given the same counts
// exports, whichever shards the counts landed in: family, help, labels in
// order and values; each child keeps a created time, and a child read
// alone is its shards' sum.
func TestShardedCountersExportAsOneVector(t *testing.T) {
	for _, shards := range []int{1, 2, 3, 16} {
		rnd := rand.New(rand.NewPCG(uint64(shards), 5))
		opts := prometheus.CounterOpts{Name: "focal_test_total", Help: "Test counts."}
		sharded := shardedCountersOf(shards, opts, "route", "status")
		plain := prometheus.NewCounterVec(opts, []string{"route", "status"})
		for i := range 5000 {
			route, status := fmt.Sprint("/r", rnd.IntN(5)), []string{"200", "404", "500"}[rnd.IntN(3)]
			child := sharded.WithLabelValues(route, status).(*shardedCounter)
			if i%3 == 0 {
				n := float64(rnd.IntN(100))
				child.shards[rnd.IntN(shards)].Add(n)
				plain.WithLabelValues(route, status).Add(n)
				continue
			}
			child.shards[rnd.IntN(shards)].Inc()
			plain.WithLabelValues(route, status).Inc()
		}
		want, got := prometheus.NewRegistry(), prometheus.NewRegistry()
		want.MustRegister(plain)
		got.MustRegister(sharded)
		require.Equal(t, exposition(t, want), exposition(t, got), "%d shards", shards)
		families, err := got.Gather()
		require.NoError(t, err)
		for _, m := range families[0].GetMetric() {
			require.NotNil(t, m.GetCounter().GetCreatedTimestamp())
		}
		require.Equal(t, testutil.ToFloat64(plain.WithLabelValues("/r1", "404")), testutil.ToFloat64(sharded.WithLabelValues("/r1", "404")))
	}
}

// Counts from goroutines on every P are all counted, and a negative Add
// panics as a Counter's does.
func TestShardedCountersCountConcurrentIncrements(t *testing.T) {
	c := newShardedCounters("focal_test_total", "Test counts.", "outcome")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			child := c.WithLabelValues("completed")
			for range 10000 {
				child.Inc()
			}
			child.Add(2)
		})
	}
	wg.Wait()
	require.Equal(t, 80016.0, testutil.ToFloat64(c.WithLabelValues("completed")))
	require.Equal(t, 1, testutil.CollectAndCount(c))
	require.Panics(t, func() { c.WithLabelValues("completed").Add(-1) })
}

// BenchmarkCounterIncParallel is every core counting into one child, as
// every request and turn does: with -cpu 2 the plain vector's line
// bounces between the cores, the sharded one's stay.
func BenchmarkCounterIncParallel(b *testing.B) {
	for _, c := range []struct {
		name string
		of   func() prometheus.Counter
	}{
		{"plain", func() prometheus.Counter {
			return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x", Help: "x"}, []string{"op"}).WithLabelValues("a")
		}},
		{"sharded", func() prometheus.Counter { return newShardedCounters("x", "x", "op").WithLabelValues("a") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			counter := c.of()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					counter.Inc()
				}
			})
		})
	}
}
