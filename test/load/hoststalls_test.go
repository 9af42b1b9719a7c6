package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The host alone sets a run's quantile where the stalls' excess over it
// fills the share of the run above the quantile, as wrk fills in the
// requests a stall held up.
func TestHostQuantile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stalls   []float64
		duration float64
		q, want  float64
	}{
		{"no stalls", nil, 4000, 0.99, 0},
		{"one 75 ms stall in 4 s", []float64{75}, 4000, 0.99, 35},            // 75 − x = 40
		{"two equal stalls", []float64{30, 30}, 4000, 0.99, 10},              // 2·(30 − x) = 40
		{"the second stall just reached", []float64{10, 50}, 4000, 0.99, 10}, // 50 − x = 40 at x = 10
		{"two stalls both above", []float64{20, 50}, 4000, 0.99, 15},         // (50 − x) + (20 − x) = 40
		{"stalls all below 1 % of the run", []float64{10, 10, 10}, 4000, 0.99, 0},
		{"stalls exactly 1 % of the run", []float64{25, 15}, 4000, 0.99, 0},
		{"a short stall beside a long one", []float64{100, 0.5}, 4000, 0.99, 60},
		{"the median: a stall of 75 ms in 100 ms", []float64{75}, 100, 0.5, 25},
		{"the median of a 4 s run a 75 ms stall cannot reach", []float64{75}, 4000, 0.5, 0},
	} {
		require.InDelta(t, tc.want, hostQuantile(tc.stalls, tc.duration, tc.q), 1e-9, tc.name)
	}
}

// A stall of the whole machine is a stretch when every CPU's sleeper was
// late at once, within the run's window; one CPU late alone is none.
func TestMachineStallsAreWhenEveryCPUWasLate(t *testing.T) {
	late := func(atMS, lateMS int64) lateWake { return lateWake{AtNS: atMS * 1e6, LateUS: lateMS * 1000} }
	h := &hostStalls{Realtime: true, from: 0, to: 4000e6, CPUs: []cpuWakes{
		{CPU: 0, Wakes: 4000, Late: []lateWake{late(60, 50), late(500, 3), late(3990, 20)}},
		{CPU: 1, Wakes: 4000, Late: []lateWake{late(70, 50), late(1000, 30), late(4010, 40)}},
	}}
	// CPU 0 late over 10-60 ms, CPU 1 over 20-70: both over 20-60. At
	// 500 and 1,000 ms one CPU alone. Over 3,970-3,990 and 3,970-4,010
	// both, the run ending at 4,000.
	require.Equal(t, []float64{40, 20}, h.machineStalls())
	require.Equal(t, 50.0, h.worstCPU())
	h.to = 3980e6
	require.Equal(t, []float64{40, 10}, h.machineStalls(), "clipped to the run's window")
	h.CPUs = h.CPUs[:1]
	require.Equal(t, []float64{50, 3, 10}, h.machineStalls(), "one CPU: its own lateness")
	require.Empty(t, (*hostStalls)(nil).machineStalls())
}

// stalledRun is run with a real-time probe that saw the whole machine
// (two CPUs) stall for each of stallsMS during it.
func stalledRun(run loadRun, stallsMS ...float64) loadRun {
	h := &hostStalls{Policy: "SCHED_FIFO priority 1", Realtime: true, IntervalUS: 1000, FloorUS: 500, from: 0, to: run.DurationUS * 1000}
	for cpu := range 2 {
		c := cpuWakes{CPU: cpu, Wakes: int(run.DurationUS / 1000)}
		for i, s := range stallsMS {
			c.Late = append(c.Late, lateWake{AtNS: int64(i+1) * 200e6, LateUS: int64(s * 1000)})
		}
		h.CPUs = append(h.CPUs, c)
	}
	run.Host = h
	return run
}

// 51 ms of the whole machine stalled in a 4 s run: the host alone sets
// its p99 at 11 ms.
const hostP99Of11 = 51

// A Focal run the host's stalls alone set beyond a target's limit is
// thrown out for it: the verdict reads from the slowest run left, and
// the run thrown out still shows, marked.
func TestAHostStalledRunIsThrownOutOfItsTarget(t *testing.T) {
	r := reportWith(6000, 1500, 9000)
	stalled := stalledRun(goodRun(8000, 4_000_000, 400, 12000), hostP99Of11)
	gin := stalledRun(goodRun(40000, 4_000_000, 70, 11500), hostP99Of11)
	ok := stalledRun(goodRun(8000, 4_000_000, 400, 3000))
	quietGin := stalledRun(goodRun(40000, 4_000_000, 70, 900))
	r.pairs[2].focal, r.pairs[2].gin = []loadRun{stalled, ok}, []loadRun{gin, quietGin}
	row := verdictOf(t, r, p99At10kTarget)
	require.Equal(t, met, row.status, row.measured)
	require.Equal(t, "3.000 ms (slowest run not thrown out; per run: 12.000 (host: 11.000), 3.000)", row.measured)
	require.Contains(t, row.compare, "bare gin 0.900 ms (per run: 11.500 (host: 11.000), 0.900)")
	require.Contains(t, row.compare, "the host alone per Focal run (probe): p99 11.000, 0.000 ms, from a longest stall of the whole machine of 51.0, 0.0 ms (of one CPU alone 51.0, 0.0 ms); a run where it is beyond 10 ms is thrown out for this target")
	md := r.markdown()
	require.Contains(t, tableLine(t, md, p99At10kTarget), "| met |")
	require.Contains(t, md, "| returning-user mix (70% returning), 10000 rules, 1 connection | Focal 1 | 0.400 / 12.000 | 8000 (2) | 51.0 / 51.0 | 0.000 / 11.000 | p99 ≤ 10 ms |")
	require.Contains(t, md, "Focal runs thrown out: 1 of 2 for “one client back to back, 10,000 rules: p99 ≤ 10 ms”.")
	require.Contains(t, md, "The longest stall of the whole machine within a run was 51.0 ms (Focal run 1, returning-user mix (70% returning), 10000 rules, 1 connection)")
}

// When the host threw out every run, the target is void, never met.
func TestEveryRunThrownOutByTheHostIsVoid(t *testing.T) {
	r := reportWith(6000, 1500, 9000)
	for i := range r.pairs[2].focal {
		r.pairs[2].focal[i] = stalledRun(goodRun(8000, 4_000_000, 400, 9000+int64(i)), hostP99Of11)
	}
	row := verdictOf(t, r, p99At10kTarget)
	require.Equal(t, void, row.status)
	require.True(t, strings.HasPrefix(row.measured, "every run thrown out: Focal run 1: the host's stalls alone set its p99 at 11.000 ms, beyond 10 ms; Focal run 2:"), row.measured)
	require.Contains(t, row.measured, "(per run: 9.000 (host: 11.000), 9.001 (host: 11.000), 9.002 (host: 11.000))", "the figures still show")
	line := tableLine(t, r.markdown(), p99At10kTarget)
	require.Contains(t, line, "| **void** |")
	require.NotContains(t, line, "| met |")
}

// A probe that did not run at real-time priority throws nothing out:
// Focal itself could have kept it waiting.
func TestAProbeWithoutRealTimePriorityThrowsNothingOut(t *testing.T) {
	r := reportWith(6000, 1500, 9000)
	stalled := stalledRun(goodRun(8000, 4_000_000, 400, 12000), hostP99Of11)
	stalled.Host.Realtime, stalled.Host.Policy = false, "SCHED_OTHER"
	r.pairs[2].focal[0] = stalled
	row := verdictOf(t, r, p99At10kTarget)
	require.Equal(t, notMet, row.status)
	require.Contains(t, row.measured, "12.000 ms (slowest run; per run: 12.000, 9.000, 9.000)")
	require.Contains(t, row.compare, "nothing thrown out where the probe could not say (run 1: the probe ran under SCHED_OTHER, not real-time")
	require.Contains(t, r.markdown(), "In 1 of the 1 runs the probe could not say, and threw nothing out: the probe ran under SCHED_OTHER")

	stalled.Host.Realtime, stalled.Host.failed = true, "chrt -f 1 failed (no), so the probe ran without real-time priority"
	require.Equal(t, notMet, verdictOf(t, r, p99At10kTarget).status)
}

// A run thrown out for one target still counts for every other it does
// not exceed, and in the pairs table.
func TestARunThrownOutForOneTargetCountsForTheOthers(t *testing.T) {
	r := reportWith(6000, 1500, 9000)
	// 45 ms stalled in 4 s: the host alone sets the p99 at 5 ms, beyond
	// 2, and the p50 at 0.
	run := stalledRun(goodRun(8000, 4_000_000, 600, 6000), 45)
	r.pairs[1].focal[1] = run
	p99 := verdictOf(t, r, p99Target)
	require.Equal(t, met, p99.status, p99.measured)
	require.Contains(t, p99.measured, "per run: 1.500, 6.000 (host: 5.000), 1.500")
	p50 := verdictOf(t, r, "one client back to back, 100 rules: p50")
	require.Equal(t, notMet, p50.status, "its p50 of 0.6 ms is the host's for none of it: %s", p50.measured)
	require.Contains(t, p50.measured, "0.600 ms (slowest run; per run: 0.300, 0.600, 0.300)")
	require.Contains(t, r.markdown(), "| returning-user mix (70% returning), 100 rules, 1 connection | 2000 | 10000 | 20%, 20%, 20% | 0.300 / 1.500 / 1.500 | 0.100 / 0.900 | 144000 | 0 |", "the pairs table keeps every valid pair")
	require.Contains(t, r.markdown(), "Focal 2 | 0.600 / 6.000 | 8000 (2) | 45.0 / 45.0 | 0.000 / 5.000 | p99 ≤ 2 ms |")

	// At 10,000 rules the run thrown out for its one target still counts
	// in the pairs table.
	r.pairs[2].focal[0] = stalledRun(goodRun(8000, 4_000_000, 400, 12000), hostP99Of11)
	require.Contains(t, r.markdown(), "| returning-user mix (70% returning), 10000 rules, 1 connection | 2000 | 10000 | 20%, 20%, 20% | 0.400 / 9.000 / 9.000 | 0.100 / 0.900 | 144000 | 0 |")
}

// A configuration with latency targets goes on until each has as many
// runs as asked for, or twice that many pairs were tried; others stop at
// the runs asked for.
func TestRunsGoOnUntilEachTargetHasItsRuns(t *testing.T) {
	good := goodRun(8000, 4_000_000, 400, 3000)
	stalled := stalledRun(good, hostP99Of11)
	row := pairRow{config: syncConfig{workload: "mix", rules: 10000, conns: 1}}
	add := func(focal loadRun) { row.focal, row.gin = append(row.focal, focal), append(row.gin, good) }
	add(good)
	add(stalled)
	add(good)
	require.True(t, row.wantsMore(3), "two of three runs to read")
	add(good)
	require.False(t, row.wantsMore(3))

	row.focal, row.gin = nil, nil
	for range 6 {
		require.True(t, row.wantsMore(3))
		add(stalled)
	}
	require.False(t, row.wantsMore(3), "six tried")

	heavy := pairRow{config: syncConfig{workload: "mix", rules: 10000, conns: 32}, focal: []loadRun{stalled, stalled, stalled}, gin: []loadRun{good, good, good}}
	require.False(t, heavy.wantsMore(3), "no latency target reads 32 connections")
	again := pairRow{config: syncConfig{workload: "mix", rules: 100, conns: 1, again: true}, focal: heavy.focal, gin: heavy.gin}
	require.False(t, again.wantsMore(3), "a row measured again is read, not judged")
}

// TestProbeProcess is the probe itself when the test binary is started as
// one (see TestTheProbeReportsItsWakes); otherwise it has nothing to do.
func TestProbeProcess(t *testing.T) {
	if os.Getenv("LOAD_TEST_PROBE") != "1" {
		return
	}
	err := runProbe([]string{"-interval", "200us"})
	if err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// The probe starts, says it is ready once each sleeper has woken, and at
// the end of its input writes what it saw; under chrt its sleepers read
// SCHED_FIFO back.
func TestTheProbeReportsItsWakes(t *testing.T) {
	t.Setenv("LOAD_TEST_PROBE", "1")
	p, err := startHostProbe([]string{os.Args[0], "-test.run=^TestProbeProcess$"})
	require.NoError(t, err)
	h := p.finish(monotonicNS(), 0)
	require.NotEmpty(t, h.CPUs, h.failed)
	t.Logf("probe: %s on %d CPUs %s", h.Policy, len(h.CPUs), h.failed)
	for _, c := range h.CPUs {
		require.Positive(t, c.Wakes, "CPU %d", c.CPU)
	}
	require.Equal(t, int64(200), h.IntervalUS)
	require.NotEmpty(t, h.Policy)
	require.Equal(t, h.Realtime, strings.HasPrefix(h.Policy, "SCHED_FIFO"), h.Policy)
	if h.failed == "" {
		require.True(t, h.Realtime, "started under chrt -f 1, the sleepers run %s", h.Policy)
		require.Empty(t, h.unusable())
	} else {
		require.Contains(t, h.failed, "without real-time priority")
		require.NotEmpty(t, h.unusable())
	}
}
