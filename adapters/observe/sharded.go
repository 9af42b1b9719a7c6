package observe

import (
	"runtime"
	"strings"
	"time"
	_ "unsafe" // go:linkname, for procPin

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// shardedHistograms is a histogram vector whose children are kept once per
// P (a shard each) and summed when scraped: it exports what one
// HistogramVec would, family, labels, buckets, counts and sums. A turn
// observes some fifteen histograms (its store calls, its steps, its
// request), each an atomic add on its count, its bucket and its sum: on
// one vector's children, both cores' turns bounced those lines between
// them (Observe took 25 ns alone and 86 ns with both cores observing). A
// P's shard is written from that P, one goroutine at a time, almost
// always.
type shardedHistograms struct {
	desc   *prometheus.Desc
	labels []string
	shards []*prometheus.HistogramVec
}

// maxHistogramShards bounds the shards: a child is about half a KiB each.
const maxHistogramShards = 16

func newShardedHistograms(name, help string, labels ...string) *shardedHistograms {
	return shardedHistogramsOf(shardCount(), prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels...)
}

// shardCount is how many shards a vector has: one per P, within bounds.
func shardCount() int { return min(max(runtime.GOMAXPROCS(0), 1), maxHistogramShards) }

// shardedHistogramsOf is a sharded vector of opts' histograms, with n
// shards.
func shardedHistogramsOf(n int, opts prometheus.HistogramOpts, labels ...string) *shardedHistograms {
	h := &shardedHistograms{desc: prometheus.NewDesc(opts.Name, opts.Help, labels, nil), labels: labels}
	for range n {
		h.shards = append(h.shards, prometheus.NewHistogramVec(opts, labels))
	}
	return h
}

// WithLabelValues is the child of values, as HistogramVec's.
func (h *shardedHistograms) WithLabelValues(values ...string) prometheus.Observer {
	o := make(shardedObserver, len(h.shards))
	for i, s := range h.shards {
		o[i] = s.WithLabelValues(values...)
	}
	return o
}

// shardedObserver is one child's shards.
type shardedObserver []prometheus.Observer

// Observe records v in the shard of the P it runs on. A goroutine moved to
// another P between reading its P and observing only observes into
// another's shard, which is as correct, once.
func (o shardedObserver) Observe(v float64) {
	o[CurrentP()%len(o)].Observe(v)
}

// CurrentP is the number of the P the calling goroutine runs on now, for
// spreading what every request writes over counts of their own per core
// (these histograms' shards, the server's running requests). The
// goroutine may run on another P by the time it uses the answer, which
// only costs a write from another core, once.
func CurrentP() int {
	p := procPin()
	procUnpin()
	return p
}

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// Describe implements prometheus.Collector.
func (h *shardedHistograms) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector: each child's shards summed, as
// one histogram created when its first shard was.
func (h *shardedHistograms) Collect(ch chan<- prometheus.Metric) {
	merged := map[string]*mergedHistogram{}
	var order []string
	for _, s := range h.shards {
		for _, d := range written(s) {
			values := h.labelValues(d.GetLabel())
			key := strings.Join(values, "\xff")
			m := merged[key]
			if m == nil {
				m = &mergedHistogram{values: values, buckets: map[float64]uint64{}}
				merged[key] = m
				order = append(order, key)
			}
			m.add(d.GetHistogram())
		}
	}
	for _, key := range order {
		m := merged[key]
		ch <- prometheus.MustNewConstHistogramWithCreatedTimestamp(h.desc, m.count, m.sum, m.buckets, m.created, m.values...)
	}
}

// written is what a shard's children write when collected.
func written(s *prometheus.HistogramVec) []*dto.Metric {
	metrics := make(chan prometheus.Metric)
	go func() {
		s.Collect(metrics)
		close(metrics)
	}()
	var out []*dto.Metric
	for m := range metrics {
		d := &dto.Metric{}
		if m.Write(d) == nil {
			out = append(out, d)
		}
	}
	return out
}

// labelValues is the values of pairs in the order of h's labels (a
// written metric's pairs are sorted by name).
func (h *shardedHistograms) labelValues(pairs []*dto.LabelPair) []string {
	values := make([]string, len(h.labels))
	for i, name := range h.labels {
		for _, p := range pairs {
			if p.GetName() == name {
				values[i] = p.GetValue()
			}
		}
	}
	return values
}

// mergedHistogram is one child's shards summed.
type mergedHistogram struct {
	values  []string
	count   uint64
	sum     float64
	buckets map[float64]uint64 // cumulative, by upper bound
	created time.Time
}

func (m *mergedHistogram) add(d *dto.Histogram) {
	m.count += d.GetSampleCount()
	m.sum += d.GetSampleSum()
	for _, b := range d.GetBucket() {
		m.buckets[b.GetUpperBound()] += b.GetCumulativeCount()
	}
	if c := d.GetCreatedTimestamp(); c != nil && (m.created.IsZero() || c.AsTime().Before(m.created)) {
		m.created = c.AsTime()
	}
}
