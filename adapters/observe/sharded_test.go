package observe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
)

// exposition is a registry's families as a scrape reads them.
func exposition(t *testing.T, r *prometheus.Registry) string {
	t.Helper()
	families, err := r.Gather()
	require.NoError(t, err)
	var b bytes.Buffer
	for _, f := range families {
		_, err := expfmt.MetricFamilyToText(&b, f)
		require.NoError(t, err)
	}
	return b.String()
}

// Sharded histograms export what one HistogramVec given the same
// observations exports, whichever shards the observations landed in:
// family, help, labels in order, buckets, counts and sums; each child
// keeps a created time.
func TestShardedHistogramsExportAsOneVector(t *testing.T) {
	for _, shards := range []int{1, 2, 3, 16} {
		rnd := rand.New(rand.NewPCG(uint64(shards), 9))
		opts := prometheus.HistogramOpts{Name: "focal_test_seconds", Help: "Test latencies.", Buckets: latencyBuckets}
		sharded := shardedHistogramsOf(shards, opts, "operation", "outcome")
		plain := histogramVec("focal_test_seconds", "Test latencies.", "operation", "outcome")
		for i := range 5000 {
			op, outcome := fmt.Sprint("op-", rnd.IntN(5)), []string{"ok", "NOT_FOUND", "b"}[rnd.IntN(3)]
			// Multiples of 2^-20, so that the sums are exact in any order.
			v := float64(rnd.IntN(1<<26)) / (1 << 20)
			if b := latencyBuckets[rnd.IntN(len(latencyBuckets))]; i%7 == 0 && b == float64(int(b*(1<<20)))/(1<<20) {
				v = b // on a bound (one of those exact in binary)
			}
			sharded.WithLabelValues(op, outcome).(shardedObserver)[rnd.IntN(shards)].Observe(v)
			plain.WithLabelValues(op, outcome).Observe(v)
		}
		want, got := prometheus.NewRegistry(), prometheus.NewRegistry()
		want.MustRegister(plain)
		got.MustRegister(sharded)
		require.Equal(t, exposition(t, want), exposition(t, got), "%d shards", shards)
		families, err := got.Gather()
		require.NoError(t, err)
		for _, m := range families[0].GetMetric() {
			require.NotNil(t, m.GetHistogram().GetCreatedTimestamp())
		}
	}
}

// Observations from goroutines on every P are all counted.
func TestShardedHistogramsCountConcurrentObservations(t *testing.T) {
	h := newShardedHistograms("focal_test_seconds", "Test latencies.", "step")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			o := h.WithLabelValues("match")
			for range 10000 {
				o.Observe(0.5)
			}
		})
	}
	wg.Wait()
	r := prometheus.NewRegistry()
	r.MustRegister(h)
	families, err := r.Gather()
	require.NoError(t, err)
	require.Equal(t, uint64(80000), families[0].GetMetric()[0].GetHistogram().GetSampleCount())
	require.Equal(t, 40000.0, families[0].GetMetric()[0].GetHistogram().GetSampleSum())
}

// BenchmarkHistogramObserveParallel is every core observing one child, as
// every turn's store calls and steps do: with -cpu 2 the plain vector's
// lines bounce between the cores, the sharded one's stay.
func BenchmarkHistogramObserveParallel(b *testing.B) {
	for _, c := range []struct {
		name string
		of   func() prometheus.Observer
	}{
		{"plain", func() prometheus.Observer { return histogramVec("x", "x", "op").WithLabelValues("a") }},
		{"sharded", func() prometheus.Observer { return newShardedHistograms("x", "x", "op").WithLabelValues("a") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			o := c.of()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o.Observe(0.00003)
				}
			})
		})
	}
}
