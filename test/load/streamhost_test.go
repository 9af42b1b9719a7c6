package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// probedStreamingRun is r with a real-time probe on two CPUs around it,
// its Focal tokens' windows 10 ms apart, each 0.3 ms long, and the whole
// machine stalled for 0.6 ms inside the window of each of its first held
// tokens: those tokens were in flight while nothing ran.
func probedStreamingRun(r streamingRun, held int) streamingRun {
	const interval, window = int64(10e6), int64(0.3e6)
	r.windows = nil
	for k := range r.focal {
		r.windows = append(r.windows, span{int64(k) * interval, int64(k)*interval + window})
	}
	end := int64(len(r.focal)) * interval
	h := &hostStalls{Policy: "SCHED_FIFO priority 1", Realtime: true, IntervalUS: 1000, FloorUS: 500, from: 0, to: end}
	for cpu := range 2 {
		c := cpuWakes{CPU: cpu, Wakes: int(end / 1e6)}
		for k := range held {
			// Late from 0.1 ms into the window to 0.1 ms after it.
			c.Late = append(c.Late, lateWake{AtNS: int64(k)*interval + window + 0.1e6, LateUS: 600})
		}
		h.CPUs = append(h.CPUs, c)
	}
	r.host = h
	return r
}

// A run's p99 over 100 tokens is its second worst (percentile), over the
// 1,800 of a bench run its 19th worst.
func TestTailPlacesAreFromTheWorstToTheQuantile(t *testing.T) {
	for _, n := range []int{1, 2, 100, 1799, 1800, 1801} {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i)
		}
		places := tailPlaces(n, 0.99)
		require.Equal(t, float64(n-places), p99Of(xs), "n=%d: the p99 is at place %d from the worst", n, places)
	}
	require.Equal(t, 2, tailPlaces(100, 0.99))
	require.Equal(t, 19, tailPlaces(1800, 0.99))
	require.Zero(t, tailPlaces(0, 0.99))
}

// A token was held up when its window overlaps a stall of the whole
// machine, however little; one that ended before a stall began, or began
// after it ended, was not.
func TestATokenInFlightDuringAStallIsHeldUp(t *testing.T) {
	stalls := []span{{100, 200}, {500, 520}, {900, 1000}}
	for _, tc := range []struct {
		name   string
		window span
		held   int
	}{
		{"ends as a stall begins", span{50, 100}, 0},
		{"begins as a stall ends", span{200, 250}, 0},
		{"overlaps a stall's start", span{50, 101}, 1},
		{"overlaps a stall's end", span{199, 300}, 1},
		{"inside a stall", span{510, 515}, 1},
		{"around a stall", span{400, 600}, 1},
		{"around two stalls", span{150, 950}, 1},
		{"between stalls", span{300, 400}, 0},
		{"after every stall", span{1000, 2000}, 0},
	} {
		require.Equal(t, tc.held, heldUpBy([]span{tc.window}, stalls), tc.name)
	}
	require.Equal(t, 2, heldUpBy([]span{{0, 10}, {150, 160}, {300, 400}, {510, 900}}, stalls))
	require.Zero(t, heldUpBy([]span{{0, 10}}, nil))
}

// The tap's and the client's times come from Go's clock, whose monotonic
// reading counts from this process's start; the probe's from
// CLOCK_MONOTONIC. Put on the probe's clock, a moment falls between the
// readings of CLOCK_MONOTONIC taken around it.
func TestTheTapsTimesArePutOnTheProbesClock(t *testing.T) {
	c := newMonoClock()
	before := monotonicNS()
	now := time.Now()
	after := monotonicNS()
	require.GreaterOrEqual(t, c.ns(now), before-c.slack)
	require.LessOrEqual(t, c.ns(now), after+c.slack)
}

// A run with as many Focal tokens held up by the host as lie from its
// worst to its p99 is void for the delay target whichever way its figure
// reads; shown, marked, it decides nothing, and the verdict is on the
// runs left. It still counts for time to first token.
func TestARunTheHostCouldHaveSetTheP99OfIsVoidForTheDelayTarget(t *testing.T) {
	slow := probedStreamingRun(streamingRunWith(6.2), 2) // 2 held of the 100, the p99's place: out
	fast := probedStreamingRun(streamingRunWith(0.4), 3) // would read met: out all the same
	clean := probedStreamingRun(streamingRunWith(1.5), 0)
	require.NotEmpty(t, slow.hostOut())
	require.NotEmpty(t, fast.hostOut())
	require.Empty(t, clean.hostOut())

	m := streamingMeasure{runs: []streamingRun{slow, clean, fast}}
	r := streamingReport(m)
	row := verdictOf(t, r, streamDelayTarget)
	require.Equal(t, met, row.status, "the one run left decides: %s", row.measured)
	require.Contains(t, row.measured, "p99 1.500 ms (per run: 6.200 (host: 2 of 100 held up), 1.500, 0.400 (host: 3 of 100 held up) ms)")
	require.Contains(t, row.compare, "the host per run (probe): Focal tokens in flight during a stall of the whole machine / the p99's place from the worst 2 / 2, 0 / 2, 3 / 2, from a longest stall of the whole machine of 0.6, 0.0, 0.6 ms")
	require.Contains(t, verdictOf(t, r, "time to first token").measured, "per run: +2.00, +2.00, +2.00 ms", "the host throws a run out of the delay target alone")
	md := r.markdown()
	require.Contains(t, md, "| 1 | 100 | 0.100 / 6.200 / 6.200 | 0.200 / 0.200 | 0.400 / 0.000 | 0.100 | 53.00 / 51.00 | 2000 (4) | 0.6 / 0.6 | 2 / 2: void for the delay target | 1.0 s |")
	require.Contains(t, md, "| 2 | 100 | 0.100 / 1.500 / 1.500 | 0.200 / 0.200 | 0.400 / 0.000 | 0.100 | 53.00 / 51.00 | 2000 (0) | 0.0 / 0.0 | 0 / 2 | 1.0 s |")
	require.Contains(t, md, "A run's p99 over its n Focal tokens is the token at place n − ⌊0.99·(n − 1)⌋ from the worst (2 of 100 here)")
	require.Contains(t, md, "The longest stall of the whole machine within a run was 0.6 ms (run 1), the longest of one CPU alone 0.6 ms, and at most 3 of a valid run's Focal tokens were in flight during one; runs the host's stalls threw out of the delay target: 2 of 3 (run 1, run 3).")

	// Every run thrown out: the target is void, never met nor not met,
	// and the figures still show.
	m = streamingMeasure{runs: []streamingRun{slow, fast}}
	r = streamingReport(m)
	row = verdictOf(t, r, streamDelayTarget)
	require.Equal(t, void, row.status, row.measured)
	require.True(t, strings.HasPrefix(row.measured, "every run thrown out: run 1: 2 of its 100 Focal tokens were in flight during a stall of the whole machine, at least the 2 from its worst to its p99: the host alone could have set its p99; run 2: 3 of its 100"), row.measured)
	require.Contains(t, row.measured, "(per run: 6.200 (host: 2 of 100 held up), 0.400 (host: 3 of 100 held up) ms)")
	line := tableLine(t, r.markdown(), streamDelayTarget)
	require.Contains(t, line, "| **void** |")
	require.NotContains(t, line, "| met |")
	require.NotContains(t, line, "not met")
	require.Equal(t, met, verdictOf(t, r, "time to first token").status)
}

// A run with no stall of the whole machine, or one that held up fewer of
// Focal's tokens than lie from the worst to the p99, decides as it did
// without a probe, unmarked.
func TestARunTheHostDidNotHoldUpDecides(t *testing.T) {
	for _, held := range []int{0, 1} {
		for _, tc := range []struct {
			p99  float64
			want status
		}{{1.9, met}, {2.146, notMet}} {
			m := streamingMeasure{runs: []streamingRun{probedStreamingRun(streamingRunWith(tc.p99), held)}}
			row := verdictOf(t, streamingReport(m), streamDelayTarget)
			require.Equal(t, tc.want, row.status, "%d held up: %s", held, row.measured)
			require.Contains(t, row.measured, fmt.Sprintf("p99 %.3f ms (per run: %.3f ms)", tc.p99, tc.p99))
			require.Contains(t, row.compare, fmt.Sprintf("the p99's place from the worst %d / 2,", held))
		}
	}
}

// A probe that did not run at real-time priority throws nothing out:
// Focal itself could have kept its sleepers waiting.
func TestAStreamingProbeWithoutRealTimePriorityThrowsNothingOut(t *testing.T) {
	run := probedStreamingRun(streamingRunWith(3), 50)
	run.host.Realtime, run.host.Policy = false, "SCHED_OTHER"
	m := streamingMeasure{runs: []streamingRun{run}}
	row := verdictOf(t, streamingReport(m), streamDelayTarget)
	require.Equal(t, notMet, row.status, row.measured)
	require.Contains(t, row.compare, "nothing thrown out where the probe could not say (run 1: the probe ran under SCHED_OTHER, not real-time")
	require.Contains(t, m.details(), "In 1 of the 1 runs the probe could not say, and threw nothing out")
}

// Runs go on until as many as asked for can decide the delay target, the
// host's thrown out and another tried, up to twice the runs asked for.
func TestARunTheHostThrewOutIsReplaced(t *testing.T) {
	quiet := func() (settling, error) { return settling{waited: time.Second, quiet: true}, nil }
	stalled := probedStreamingRun(streamingRunWith(0.5), 2)
	seq := []streamingRun{stalled, probedStreamingRun(streamingRunWith(1.2), 0), stalled,
		probedStreamingRun(streamingRunWith(4), 1), probedStreamingRun(streamingRunWith(1.4), 0)}
	var tried []int
	runs, why := collectRuns(3, quiet, func(i int) streamingRun { tried = append(tried, i); return seq[i] })
	require.Empty(t, why)
	require.Equal(t, []int{0, 1, 2, 3, 4}, tried, "runs go on until three can decide")
	row := verdictOf(t, streamingReport(streamingMeasure{runs: runs}), streamDelayTarget)
	require.Equal(t, met, row.status, row.measured)
	require.Contains(t, row.measured, "p99 1.400 ms (per run: 0.500 (host: 2 of 100 held up), 1.200, 0.500 (host: 2 of 100 held up), 4.000, 1.400 ms)")

	tried = nil
	runs, why = collectRuns(3, quiet, func(i int) streamingRun { tried = append(tried, i); return stalled })
	require.Empty(t, why)
	require.Len(t, tried, 6, "no more than twice the runs asked for")
	require.Equal(t, void, verdictOf(t, streamingReport(streamingMeasure{runs: runs}), streamDelayTarget).status)
}
