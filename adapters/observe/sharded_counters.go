package observe

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// shardedCounters is a counter vector whose children are kept once per P,
// as shardedHistograms' are, and summed when read: it exports what one
// CounterVec would, family, labels, values and created times. Every
// request counts itself in focal_http_requests_total and every turn in
// focal_turns_total, each an atomic add on its child's value, which on one
// vector's child was a line both cores' requests wrote.
type shardedCounters struct {
	desc   *prometheus.Desc
	labels []string
	shards []*prometheus.CounterVec
}

func newShardedCounters(name, help string, labels ...string) *shardedCounters {
	return shardedCountersOf(shardCount(), prometheus.CounterOpts{Name: name, Help: help}, labels...)
}

// shardedCountersOf is a sharded vector of opts' counters, with n shards.
func shardedCountersOf(n int, opts prometheus.CounterOpts, labels ...string) *shardedCounters {
	c := &shardedCounters{desc: prometheus.NewDesc(opts.Name, opts.Help, labels, nil), labels: labels}
	for range n {
		c.shards = append(c.shards, prometheus.NewCounterVec(opts, labels))
	}
	return c
}

// WithLabelValues is the child of values, as CounterVec's: a Counter,
// metric and collector, whose value is its shards' sum.
func (c *shardedCounters) WithLabelValues(values ...string) prometheus.Counter {
	child := &shardedCounter{desc: c.desc, values: values, shards: make([]prometheus.Counter, len(c.shards))}
	for i, s := range c.shards {
		child.shards[i] = s.WithLabelValues(values...)
	}
	return child
}

// Describe implements prometheus.Collector.
func (c *shardedCounters) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector: each child's shards summed, as
// one counter created when its first shard was.
func (c *shardedCounters) Collect(ch chan<- prometheus.Metric) {
	type merged struct {
		values  []string
		sum     float64
		created time.Time
	}
	byValues := map[string]*merged{}
	var order []string
	for _, s := range c.shards {
		for _, d := range written(s) {
			values := labelValues(c.labels, d.GetLabel())
			key := strings.Join(values, "\xff")
			m := byValues[key]
			if m == nil {
				m = &merged{values: values}
				byValues[key] = m
				order = append(order, key)
			}
			m.sum += d.GetCounter().GetValue()
			m.created = createdFirst(m.created, d.GetCounter())
		}
	}
	for _, key := range order {
		m := byValues[key]
		ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(c.desc, prometheus.CounterValue, m.sum, m.created, m.values...)
	}
}

// createdFirst is the earlier of created and when c was created, a zero
// created being none yet.
func createdFirst(created time.Time, c *dto.Counter) time.Time {
	if ts := c.GetCreatedTimestamp(); ts != nil && (created.IsZero() || ts.AsTime().Before(created)) {
		return ts.AsTime()
	}
	return created
}

// shardedCounter is one child's shards. It counts into the shard of the P
// it runs on (a goroutine moved meanwhile counts into another's, which is
// as correct, once) and reads as their sum.
type shardedCounter struct {
	desc   *prometheus.Desc
	values []string
	shards []prometheus.Counter
}

// Inc implements prometheus.Counter.
func (c *shardedCounter) Inc() { c.shards[currentP()%len(c.shards)].Inc() }

// Add implements prometheus.Counter; like it, it panics when v < 0.
func (c *shardedCounter) Add(v float64) { c.shards[currentP()%len(c.shards)].Add(v) }

// Desc implements prometheus.Metric.
func (c *shardedCounter) Desc() *prometheus.Desc { return c.desc }

// Write implements prometheus.Metric: the shards' sum, created when the
// first shard was.
func (c *shardedCounter) Write(out *dto.Metric) error {
	var sum float64
	var created time.Time
	for _, s := range c.shards {
		d := &dto.Metric{}
		if err := s.Write(d); err != nil {
			return err
		}
		sum += d.GetCounter().GetValue()
		created = createdFirst(created, d.GetCounter())
	}
	return prometheus.MustNewConstMetricWithCreatedTimestamp(c.desc, prometheus.CounterValue, sum, created, c.values...).Write(out)
}

// Describe implements prometheus.Collector.
func (c *shardedCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *shardedCounter) Collect(ch chan<- prometheus.Metric) { ch <- c }
