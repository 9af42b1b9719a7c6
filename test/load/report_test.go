package main

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goodRun is a run whose every answer was a 2xx turn.
func goodRun(requests, durationUS, p50, p99 int64) loadRun {
	return loadRun{Requests: requests, DurationUS: durationUS, OK: requests, P50US: p50, P90US: p99, P99US: p99, MaxUS: p99}
}

// reportWith is a report of the four measured configurations, Focal at
// focalRPS beside a bare gin at 10,000 req/s, with the given p99s.
func reportWith(focalRPS int64, p99at100, p99at10k int64) *report {
	r := newReport()
	pair := func(c syncConfig, focal loadRun) pairRow {
		gin := goodRun(40000, 4_000_000, 100, 900)
		return pairRow{config: c, focal: []loadRun{focal, focal, focal}, gin: []loadRun{gin, gin, gin}}
	}
	r.pairs = []pairRow{
		pair(syncConfig{workload: "mix", rules: 100, conns: 32}, goodRun(focalRPS*4, 4_000_000, 300, 1500)),
		pair(syncConfig{workload: "mix", rules: 100, conns: 1}, goodRun(8000, 4_000_000, 300, p99at100)),
		pair(syncConfig{workload: "mix", rules: 10000, conns: 1}, goodRun(8000, 4_000_000, 400, p99at10k)),
		pair(syncConfig{workload: "new", rules: 10000, conns: 32}, goodRun(20000, 4_000_000, 400, 3000)),
	}
	return r
}

func verdictOf(t *testing.T, r *report, target string) targetRow {
	t.Helper()
	for _, row := range r.targets() {
		if strings.HasPrefix(row.target, target) {
			return row
		}
	}
	t.Fatalf("no target %q in the report", target)
	return targetRow{}
}

// tableLine is the target's line of the markdown table.
func tableLine(t *testing.T, md, target string) string {
	t.Helper()
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| "+target) {
			return line
		}
	}
	t.Fatalf("no table line for %q", target)
	return ""
}

const (
	throughputTarget = "returning-user mix, 32 connections"
	p99Target        = "one client back to back, 100 rules: p99"
	p99At10kTarget   = "one client back to back, 10,000 rules: p99"
)

func TestReportPrintsMetOnlyWhenTheRunMeetsTheTarget(t *testing.T) {
	good := reportWith(6000, 1500, 9000) // 60 % of bare gin, p99 1.5 ms and 9 ms
	require.Equal(t, met, verdictOf(t, good, throughputTarget).status)
	require.Equal(t, met, verdictOf(t, good, p99Target).status)
	require.Equal(t, met, verdictOf(t, good, p99At10kTarget).status)
	require.True(t, strings.HasSuffix(tableLine(t, good.markdown(), throughputTarget), "| met |"))

	missed := reportWith(4000, 2500, 12000) // 40 %, p99 2.5 ms and 12 ms
	md := missed.markdown()
	for _, target := range []string{throughputTarget, p99Target, p99At10kTarget} {
		require.Equal(t, notMet, verdictOf(t, missed, target).status, target)
		line := tableLine(t, md, target)
		require.NotContains(t, line, "| met |", "a missed target never reads met: %s", line)
		require.Contains(t, line, "not met")
	}
	require.Contains(t, tableLine(t, md, throughputTarget), "40%", "the measured ratio is printed")
}

func TestARunWithNon2xxAnswersIsVoid(t *testing.T) {
	r := reportWith(6000, 1500, 9000)
	for i := range r.pairs[0].focal {
		r.pairs[0].focal[i].Non2xx, r.pairs[0].focal[i].OK = 3, r.pairs[0].focal[i].Requests-3
	}
	row := verdictOf(t, r, throughputTarget)
	require.Equal(t, void, row.status, "runs with non-2xx answers never make a figure")
	line := tableLine(t, r.markdown(), throughputTarget)
	require.NotContains(t, line, "| met |")
	require.Contains(t, line, "void")
	require.Contains(t, r.markdown(), "3 non-2xx answers")
}

func TestOneBadPairIsThrownOutNotAveragedIn(t *testing.T) {
	r := reportWith(6000, 1500, 9000)
	// The middle pair's Focal run had a body that was not a turn and, had
	// it counted, a throughput far below the others.
	bad := goodRun(400, 4_000_000, 300, 1500)
	bad.Invalid, bad.OK = 1, 399
	r.pairs[0].focal[1] = bad
	require.Equal(t, []float64{0.6, 0.6}, r.pairs[0].ratios())
	row := verdictOf(t, r, throughputTarget)
	require.Equal(t, met, row.status)
	require.Contains(t, row.measured, "1 pair(s) thrown out")
}

func TestALatencyTargetIsReadFromTheSlowestRun(t *testing.T) {
	r := reportWith(6000, 1500, 9000)
	// One run of three stalled once: its p99 alone is past the limit.
	r.pairs[2].focal[0] = goodRun(8000, 4_000_000, 400, 33800)
	row := verdictOf(t, r, p99At10kTarget)
	require.Equal(t, notMet, row.status, "a median of the runs would read 9 ms, met")
	require.Contains(t, row.measured, "33.800 ms (slowest run; per run: 33.800, 9.000, 9.000)")
	require.Equal(t, "bare gin 0.900 ms (per run: 0.900, 0.900, 0.900)", row.compare, "bare gin's runs of the same pairs")
	require.Equal(t, met, verdictOf(t, r, p99Target).status)
}

func TestVoidReasons(t *testing.T) {
	for _, tc := range []struct {
		run  loadRun
		void bool
	}{
		{goodRun(10, 1000, 1, 1), false},
		{loadRun{}, true},
		{loadRun{Requests: 10, OK: 9, Non2xx: 1}, true},
		{loadRun{Requests: 10, OK: 9, Invalid: 1}, true},
		{loadRun{Requests: 10, OK: 10, SocketErrors: 1}, true},
		{loadRun{Requests: 10, OK: 8}, true}, // answers the script did not check
	} {
		require.Equal(t, tc.void, tc.run.Void() != "", "%+v", tc.run)
	}
}

// Runs of returning users at a rule count where too few of them were in
// the scenario when their load began are void, whatever they answered,
// and the report says why; new users' runs, and the other rule count's,
// stand.
func TestTooFewSeededUsersInTheScenarioVoidTheirRuns(t *testing.T) {
	seeded := func(at100, at10k int) *report {
		good := reportWith(6000, 1500, 9000)
		r := newReport()
		r.seeded = []seeding{{rules: 100, users: 500, inScenario: at100}, {rules: 10000, users: 500, inScenario: at10k,
			openings: "none of 153 card_arrival phrasings starts it in process, best entry score 0.00"}}
		for _, row := range good.pairs {
			r.addPair(row)
		}
		return r
	}
	r := seeded(500, 50)
	row := verdictOf(t, r, p99At10kTarget)
	require.Equal(t, void, row.status, "10 %% of the returning users in the scenario is not the workload")
	require.Contains(t, row.measured, "only 50 of 500 returning users (10%) were in the scenario when their load began, fewer than 90%")
	md := r.markdown()
	require.Contains(t, tableLine(t, md, p99At10kTarget), "| **void** |")
	require.Contains(t, md, "Thrown out (returning-user mix (70% returning), 10000 rules, 1 connection): only 50 of 500")
	require.Contains(t, md, "500 of 500 at 100 rules, 50 of 500 at 10000 rules (none of 153 card_arrival phrasings starts it in process, best entry score 0.00)")
	require.Contains(t, md, "| new users, 10000 rules, 32 connections | 5000 |", "new users have no scenario to be in")
	require.Equal(t, met, verdictOf(t, r, p99Target).status, "100 rules' users were all in it")
	require.Equal(t, met, verdictOf(t, r, throughputTarget).status)

	require.Equal(t, met, verdictOf(t, seeded(500, 450), p99At10kTarget).status, "90 % is enough")
	require.Equal(t, void, verdictOf(t, seeded(500, 449), p99At10kTarget).status)
	require.Equal(t, void, verdictOf(t, seeded(449, 500), throughputTarget).status)
}

func TestSoakVerdictIsTheSlope(t *testing.T) {
	r := reportWith(6000, 1500, 9000)
	xs := []float64{1, 2, 3, 4, 5}
	r.soak = &soakResult{slope: leastSquaresSlope(xs, []float64{100, 102, 104, 106, 108}), run: goodRun(10, 10, 1, 1)}
	require.InDelta(t, 2.0, r.soak.slope, 1e-9)
	require.Equal(t, notMet, verdictOf(t, r, "soak").status)
	r.soak.slope = leastSquaresSlope(xs, []float64{100, 101, 100, 101, 100})
	require.Equal(t, met, verdictOf(t, r, "soak").status)
	r.soak.voidReason = "7 non-2xx answers"
	require.Equal(t, void, verdictOf(t, r, "soak").status)
}

// The soak's slopes are fitted after the warm-up minute, RSS and the live
// heap each from their own samples, and the report gives both.
func TestSoakFitsRSSAndLiveHeapAfterTheWarmUp(t *testing.T) {
	s := &soakResult{duration: 5 * time.Minute, run: goodRun(10, 10, 1, 1)}
	for i := range 5 {
		// 3 MiB a minute of RSS, 1 of live heap; the first minute's
		// sample, far off the line, is left out.
		rss, live := int64(200+3*i)<<20, int64(60+i)<<20
		if i == 0 {
			rss, live = 20<<20, 5<<20
		}
		s.samples = append(s.samples, rssSample{at: time.Duration(i) * time.Minute, rss: rss, live: live})
	}
	s.fitSlope()
	require.InDelta(t, 3.0, s.slope, 1e-9)
	require.InDelta(t, 1.0, s.liveSlope, 1e-9)
	r := reportWith(6000, 1500, 9000)
	r.soak = s
	row := verdictOf(t, r, "soak")
	require.Equal(t, notMet, row.status)
	require.Contains(t, row.measured, "+3.00 MiB/min (live heap +1.00 MiB/min)")
}

func TestShortNames(t *testing.T) {
	require.Equal(t, "alignment.(*Engine).RunTurn", shortName("focal/application/alignment.(*Engine).RunTurn"))
	require.Equal(t, "slices.partitionCmpFunc[…]", shortName(`slices.partitionCmpFunc[go.shape.struct { RuleID string "json:\"rule_id\"" }]`))
}

// The idle-stream verdict is read from RSS once the runtime has collected,
// not from the reading taken while the opening's garbage was still held,
// and a run where streams failed to open is void.
func TestIdleStreamVerdictIsOnTheReadingAfterCollection(t *testing.T) {
	const mib = 1 << 20
	r := idleReading{n: 1000, opened: 1000, before: 50 * mib, opening: 100 * mib, after: 120 * mib,
		metricsBefore: map[string]float64{}, metricsAfter: map[string]float64{"go_goroutines": 3000,
			"go_memstats_heap_idle_bytes": 30 * mib, "go_memstats_heap_released_bytes": 10 * mib}}
	row, breakdown := r.report()
	require.Equal(t, notMet, row.status, row.measured) // 70 MiB over 1,000 streams: 71.7 KiB each
	require.Contains(t, row.measured, "71.7 KiB per stream")
	require.Contains(t, breakdown, "51.2 KiB per stream, garbage of the opening included")
	require.Contains(t, breakdown, "3.0 goroutines per stream")
	require.Contains(t, breakdown, "kept from the system (idle, not released): 20.5 KiB per stream")
	require.NotContains(t, breakdown, "From the settled opening", "no reading was taken once the opening settled")

	// What the idle period changed is read against the settled opening.
	r.metricsOpened = map[string]float64{"go_memstats_heap_inuse_bytes": 40 * mib, "go_memstats_stack_inuse_bytes": 20 * mib,
		"go_memstats_heap_idle_bytes": 12 * mib, "go_memstats_heap_released_bytes": 10 * mib}
	r.metricsAfter["go_memstats_heap_inuse_bytes"], r.metricsAfter["go_memstats_stack_inuse_bytes"] = 35*mib, 22*mib
	_, breakdown = r.report()
	require.Contains(t, breakdown, "From the settled opening to after the collection, per stream: RSS +20.5 KiB, heap in use -5.1 KiB, stacks +2.0 KiB, free heap kept +18.4 KiB.")

	r.after = 100 * mib
	row, _ = r.report()
	require.Equal(t, met, row.status, row.measured)

	r.failed = 3
	row, _ = r.report()
	require.Equal(t, void, row.status)
}

// The method says with which collector settings both sides of the pairs
// ran, and where each side's collector was, as read in the run.
func TestMethodSaysHowBothSidesCollect(t *testing.T) {
	var b strings.Builder
	(&report{gc: &gcSettings{headroom: "128MiB", floor: 100, focal: 213, gin: 9000}}).writeMethod(&b)
	require.Contains(t, b.String(), "starting 128MiB over what the last one kept, or 100 % of it if more")
	require.Contains(t, b.String(), "Focal 213 %, bare gin 9000 %")
	b.Reset()
	(&report{gc: &gcSettings{headroom: "off", floor: 400, focal: 400, gin: 400}}).writeMethod(&b)
	require.Contains(t, b.String(), "starting 400 % over what the last one kept;")
	b.Reset()
	(&report{}).writeMethod(&b)
	require.NotContains(t, b.String(), "collector")
}

// The history target compares the long session with one at the history
// window, not with a new session whose prompt has no history.
func TestHistoryVerdictIsAgainstAFullWindow(t *testing.T) {
	runs := func(p50us int64) []loadRun { return []loadRun{goodRun(1000, 4e6, p50us, 3*p50us)} }
	m := historyMeasure{fresh: runs(800), window: runs(1000), long: runs(1080)}
	row := m.target()
	require.Equal(t, met, row.status, row.measured) // +8 % over the window, +35 % over a new session
	require.Contains(t, row.measured, "p50 1.080 ms vs 1.000 ms (+8%, the median of the rounds' own: +8%)")
	require.Contains(t, row.compare, "p50 0.800 ms")

	m.long = runs(1150)
	require.Equal(t, notMet, m.target().status)

	require.Equal(t, void, historyMeasure{}.target().status)
}

// The history verdict is the median of each round's own ratio: a host that
// slowed one round's long run, and the whole of another round, must not
// read as growth with a session's length, as the medians of each side over
// all rounds did (here +33 % against +2 %).
func TestHistoryVerdictIsOnEachRoundsOwnRatio(t *testing.T) {
	run := func(p50us int64) loadRun { return goodRun(1000, 4e6, p50us, 3*p50us) }
	m := historyMeasure{
		fresh:  []loadRun{run(800), run(800), run(800)},
		window: []loadRun{run(1000), run(1000), run(1300)},
		long:   []loadRun{run(1020), run(1330), run(1330)},
	}
	row := m.target()
	require.Equal(t, met, row.status, row.measured)
	require.Contains(t, row.measured, "(+2%, the median of the rounds' own: +2%, +33%, +2%)")
}

// RSS is taken as settled only once it stays within 0.2 % over 4 s: a
// process still growing by a megabyte every 2 s, as one whose streams just
// opened does, is not settled, however small each step is against its
// size.
func TestRSSSettlesOnlyWhenItStopsMoving(t *testing.T) {
	const mib = 1 << 20
	require.False(t, rssSettled([]int64{700 * mib, 700 * mib}), "two readings say nothing yet")
	require.False(t, rssSettled([]int64{694 * mib, 696 * mib, 698 * mib}), "growing 1 MiB/s")
	require.False(t, rssSettled([]int64{690 * mib, 702 * mib, 702 * mib}), "flat for 2 s after a jump")
	require.True(t, rssSettled([]int64{690 * mib, 702 * mib, 702 * mib, 702*mib + mib/2}))
	require.True(t, rssSettled([]int64{720 * mib, 719 * mib, 719 * mib}), "shrinking back by less than 0.2 %")
}

// The CPU a turn may use to reach half of bare gin's throughput is the
// cores' time at that rate less the load generator's share, and the
// report says how far the run was from it, from the CPU it read.
func TestBudgetIsTheCoresTimeAtTheTargetRateLessTheLoadGenerators(t *testing.T) {
	assert.InDelta(t, 72, cpuBudget(2, 50000, 0.5, 8), 1e-9, "2 cores at 25,000 turns/s: 80 µs, less wrk's 8")
	assert.LessOrEqual(t, cpuBudget(1, 100000, 0.5, 25), 0.0, "wrk alone fills the core")

	run := func(rps, serverUS, wrkUS int64) loadRun {
		r := goodRun(rps*4, 4_000_000, 100, 900)
		r.ServerCPU, r.LoadCPU = time.Duration(serverUS*r.Requests)*time.Microsecond, time.Duration(wrkUS*r.Requests)*time.Microsecond
		return r
	}
	row := &pairRow{config: syncConfig{workload: "mix", rules: 100, conns: 32}, focal: []loadRun{run(10000, 158, 8)}, gin: []loadRun{run(50000, 22, 15)}}
	text := budgetText(row, 2, 0.5)
	assert.Contains(t, text, "Focal 158 µs per turn, bare gin 22 µs per request; wrk 8 µs per request beside Focal and 15 beside bare gin")
	// Bare gin's runs kept the cores busy 50,000 × (22 + 15) µs a second
	// of 2 cores' time: 92.5 %, which leaves Focal 74 − 8 = 66 µs.
	assert.InDelta(t, 0.925, busyShare(2, 50000, 22, 15), 1e-9)
	assert.InDelta(t, 66, cpuBudgetBusy(2, 0.925, 50000, 0.5, 8), 1e-9)
	assert.Contains(t, text, "At 25000 turns/s (50% of bare gin), with wrk costing what it did beside Focal, the 2 cores leave Focal 72 µs per turn when busy all the time, and 66 µs when as busy as bare gin's runs kept them (92% of the time, its and wrk's CPU over their runs): 2.4× less CPU than it used (2.2× at full use).")

	row.focal[0] = run(10000, 60, 8) // within the budget, yet at a fifth of bare gin
	assert.Contains(t, budgetText(row, 2, 0.5), "(92% of the time, its and wrk's CPU over their runs): more than it used, so its CPU per turn did not hold the run back")

	// Within what the cores leave when busy all the time, beyond what they
	// leave as busy as bare gin kept them: the CPU per turn held it back.
	row.focal[0] = run(10000, 70, 8)
	assert.Contains(t, budgetText(row, 2, 0.5), "(92% of the time, its and wrk's CPU over their runs): 1.1× less CPU than it used (1.0× at full use).")

	row.focal[0].ServerCPU = 0
	assert.Empty(t, budgetText(row, 2, 0.5), "no budget without the CPU read")
}

// The CPU time read from /proc agrees with what the kernel reports to the
// process itself.
func TestProcessUsageCPUIsTheKernelsCount(t *testing.T) {
	cpu := func() time.Duration {
		u, err := processUsage(os.Getpid())
		require.NoError(t, err)
		return u.cpu
	}
	start := cpu()
	var ru syscall.Rusage
	for x := uint64(1); ; x = x*6364136223846793005 + 1 { // burn CPU until the tick count moves on
		if cpu()-start >= 200*time.Millisecond {
			break
		}
		_ = x
	}
	got := cpu()
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	kernel := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	assert.InDelta(t, kernel.Seconds(), got.Seconds(), 0.05, "ticks of 10 ms, read a moment apart")
}

// The CPU table gives each side's page faults per request, the medians
// of the valid pairs' readings.
func TestCPUTableGivesPageFaultsPerRequest(t *testing.T) {
	run := func(serverUS, faults int64) loadRun {
		r := goodRun(40000, 4_000_000, 100, 900)
		r.ServerCPU, r.LoadCPU = time.Duration(serverUS*r.Requests)*time.Microsecond, time.Duration(10*r.Requests)*time.Microsecond
		r.ServerFaults = faults
		return r
	}
	rep := &report{pairs: []pairRow{{config: syncConfig{workload: "mix", rules: 100, conns: 32},
		focal: []loadRun{run(120, 40000), run(110, 26000), run(130, 30000)}, gin: []loadRun{run(28, 0), run(29, 40), run(30, 0)}}}}
	var b strings.Builder
	rep.writeCPU(&b)
	assert.Contains(t, b.String(), "| 120 | 29 | 10 | 10 | 0.75 | 0.00 |\n", "medians: 30,000 faults over 40,000 turns; none for bare gin")
}

// The page faults read from /proc count the pages a process touches for
// the first time.
func TestProcessUsageCountsFirstTouches(t *testing.T) {
	const pages = 512
	mem, err := syscall.Mmap(-1, 0, pages*os.Getpagesize(), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	require.NoError(t, err)
	defer func() { _ = syscall.Munmap(mem) }()
	before, err := processUsage(os.Getpid())
	require.NoError(t, err)
	for i := 0; i < len(mem); i += os.Getpagesize() {
		mem[i] = 1
	}
	after, err := processUsage(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, after.minorFaults-before.minorFaults, int64(pages), "one fault a page touched")
	assert.Less(t, after.minorFaults-before.minorFaults, int64(4*pages), "and not many more")
}

// The publish row is read from its runs, a measurement with no verdict;
// a run that failed, or whose first turn ran on another version, voids it.
func TestPublishRowIsComputedFromTheRuns(t *testing.T) {
	run := func(publish, first, next time.Duration) publishRun {
		return publishRun{publish: publish * time.Millisecond, first: first * time.Millisecond, next: next * time.Millisecond}
	}
	m := publishMeasure{runs: []publishRun{run(900, 4000, 2), run(1100, 3000, 3), run(1000, 5000, 2)}}
	row := m.target()
	require.Equal(t, informational, row.status)
	require.Equal(t, "first turn after publishing a policy of 10,000 rules (a measurement; no target)", row.target)
	require.Equal(t, "4000.0 ms from the publish's answer to the first turn's (per run: 4000.0, 3000.0, 5000.0 ms); the turn after it 2.0 ms", row.measured)
	require.Equal(t, "the publish call (PUT /v1/agents/{id}/bundle) 1000.0 ms (per run: 900.0, 1100.0, 1000.0 ms)", row.compare)

	r := reportWith(6000, 1500, 9000)
	r.extra = append(r.extra, row)
	require.True(t, strings.HasSuffix(tableLine(t, r.markdown(), "first turn after publishing"), "| — |"))

	// A server that answers from the previous policy while the new one
	// compiles: the wait for the version published is shown too.
	m.runs[1].stale, m.runs[1].onNew = 2, 9000*time.Millisecond
	m.runs[0].onNew, m.runs[2].onNew = m.runs[0].first, m.runs[2].first
	require.Equal(t, "4000.0 ms from the publish's answer to the first turn's (per run: 4000.0, 3000.0, 5000.0 ms), 2 turn(s) in all on the previous version; to the first turn on the version published 5000.0 ms (per run: 4000.0, 9000.0, 5000.0 ms); the turn after it 2.0 ms", m.target().measured)

	m.void = "no turn ran on version 3 within 5m0s of its publish (40 on version 2)"
	row = m.target()
	require.Equal(t, void, row.status)
	require.Equal(t, m.void, row.measured)
	require.Equal(t, void, publishMeasure{}.target().status)
}

// The row a configuration's second measurement makes is shown, never
// judged: whichever of the two met the target, the verdict is the first
// row's, and the table says what each row began on.
func TestTargetsAreReadFromAConfigurationsFirstRow(t *testing.T) {
	for _, tc := range []struct {
		first, again int64
		want         status
	}{{1500, 2500, met}, {2500, 1500, notMet}} {
		r := reportWith(6000, tc.first, 9000)
		row := r.pairs[1]
		require.Equal(t, syncConfig{workload: "mix", rules: 100, conns: 1}, row.config)
		again := goodRun(8000, 4_000_000, 300, tc.again)
		r.pairs[1].start = processState{turns: 10, liveMiB: 2}
		// Listed first, so that a look-up by workload alone finds it.
		r.pairs = append([]pairRow{{config: syncConfig{workload: "mix", rules: 100, conns: 1, again: true},
			focal: []loadRun{again, again, again}, gin: row.gin, start: processState{turns: 563, liveMiB: 1012, collected: true}}}, r.pairs...)
		require.Equal(t, tc.want, verdictOf(t, r, p99Target).status, "first row p99 %d us, again %d us", tc.first, tc.again)
		md := r.markdown()
		require.Contains(t, tableLine(t, md, "returning-user mix (70% returning), 100 rules, 1 connection, again after the runs above"), "| 563 turns, 1012 MiB |")
		require.Contains(t, tableLine(t, md, "returning-user mix (70% returning), 100 rules, 1 connection |"), "| 10 turns, no collection yet |")
	}
}

func TestRunOrderFollowsTheConfigurations(t *testing.T) {
	text := runOrder(syncConfigs)
	first := strings.Index(text, "returning-user mix (70% returning), 100 rules, 1 connection;")
	heavy := strings.Index(text, "returning-user mix (70% returning), 100 rules, 32 connections")
	require.True(t, first >= 0 && heavy > first, "the one-client runs at 100 rules come first: %s", text)
	require.Contains(t, runOrder([]syncConfig{{workload: "new", rules: 100, conns: 32}, {workload: "mix", rules: 100, conns: 1}}),
		"at 100 rules: new users, 100 rules, 32 connections; then returning-user mix (70% returning), 100 rules, 1 connection")
	require.Contains(t, (processState{err: errors.New("GET answered 500")}).String(), "not read")
}
