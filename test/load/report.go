package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// pairRow is one configuration's alternating Focal / bare gin runs.
type pairRow struct {
	config     syncConfig
	focal, gin []loadRun // focal[i] and gin[i] ran back to back
	profile    *profileSummary
	// start is what Focal held when the row's runs began.
	start processState
	// seedVoid, when set, voids every pair whatever they answered: the
	// returning users the runs talked as were not what they claim to be
	// (seeding.voidReason).
	seedVoid string
}

func (c syncConfig) label() string {
	w := map[string]string{"mix": "returning-user mix (70% returning)", "returning": "returning users", "new": "new users"}[c.workload]
	again := map[bool]string{true: ", again after the runs above"}[c.again]
	return fmt.Sprintf("%s, %d rules, %d connection%s%s", w, c.rules, c.conns, map[bool]string{true: "s"}[c.conns > 1], again)
}

// String says what the process held when a row began: its returning
// users' mean turns and its live heap.
func (s processState) String() string {
	switch {
	case s.err != nil:
		return "not read (" + s.err.Error() + ")"
	case s.turns == 0:
		return "—"
	case !s.collected:
		return fmt.Sprintf("%.0f turns, no collection yet", s.turns)
	}
	return fmt.Sprintf("%.0f turns, %.0f MiB", s.turns, s.liveMiB)
}

// runOrder says in what order the configurations ran on each process.
func runOrder(configs []syncConfig) string {
	var parts []string
	for _, rules := range ruleCounts(configs) {
		var labels []string
		for _, c := range configs {
			if c.rules == rules {
				labels = append(labels, c.label())
			}
		}
		parts = append(parts, fmt.Sprintf("at %d rules: %s", rules, strings.Join(labels, "; then ")))
	}
	return " One Focal process per rule count served its configurations in this order, " + strings.Join(parts, "; and ") +
		" (its returning users seeded just before the first). A row marked again is its configuration measured a second time on what the runs before it left, for reading beside the first; every target is read from a configuration's first row, a latency target from its slowest valid run (wrk counts a stalled request's wait for the ones it held up, so one stall in a run shows in its p99, and a median of runs would hide it). The table gives, per row, what the process held when its runs began: its returning users' mean turns (read through the API) and the heap its last collection found live."
}

// validPairs returns the pairs whose two runs both answered only 2xx real
// turns, and why each other pair was thrown out.
func (r pairRow) validPairs() (focal, gin []loadRun, voids []string) {
	if r.seedVoid != "" {
		return nil, nil, []string{r.seedVoid}
	}
	for i := range r.focal {
		if v := r.pairVoid(i); v != "" {
			voids = append(voids, v)
			continue
		}
		focal, gin = append(focal, r.focal[i]), append(gin, r.gin[i])
	}
	return focal, gin, voids
}

// ratios are Focal's throughput over bare gin's, pair by pair.
func (r pairRow) ratios() []float64 {
	focal, gin, _ := r.validPairs()
	out := make([]float64, len(focal))
	for i := range focal {
		out[i] = focal[i].Throughput() / gin[i].Throughput()
	}
	return out
}

// status is a target's verdict.
type status int

const (
	notMeasured status = iota
	met
	notMet
	void // the measurement was thrown out
	informational
)

func (s status) String() string {
	return [...]string{"not measured", "met", "**not met**", "**void**", "—"}[s]
}

// judge turns a comparison into a verdict; a void reason wins.
func judge(ok bool, voidReason string) status {
	switch {
	case voidReason != "":
		return void
	case ok:
		return met
	}
	return notMet
}

// targetRow is one of the service's performance targets beside what was
// measured.
type targetRow struct {
	target, measured, compare string
	status                    status
	// costs explains a missed target from this run's own data.
	costs string
}

// soakResult is the soak's RSS series and what it gave.
type soakResult struct {
	duration    time.Duration
	rate        float64 // turns per second achieved
	samples     []rssSample
	slope       float64 // MiB per minute after the first minute
	liveSlope   float64 // the same of the live heap
	run         loadRun
	retention   string
	swept       string
	voidReason  string
	heapSamples string
}

type rssSample struct {
	at   time.Duration
	rss  int64
	live int64 // go_gc_heap_live_bytes: what the last collection kept
}

type engineRow struct {
	name string
	runs [][3]float64 // ns/op, B/op, allocs/op
}

type report struct {
	engine    []engineRow
	pairs     []pairRow
	soak      *soakResult
	extra     []targetRow
	details   []string
	notes     []string
	integrity string
	// seeded says, per rule count, how many returning users the scenario
	// held after their history was written.
	seeded []seeding
	// gc is how both sides of the pairs collected garbage, nil before
	// the pairs ran.
	gc      *gcSettings
	elapsed time.Duration
	load    string
	// runs is how many valid runs a configuration was asked for.
	runs int
}

func newReport() *report { return &report{} }

// seeding is how many of the returning users seeded for a rule count were
// in the agent's scenario when their load began, and how their first
// messages were chosen (openingChoice.text).
type seeding struct {
	rules, users, inScenario int
	openings                 string
}

// minInScenario is the share of returning users that must be in the
// scenario when their load begins. Below it the runs of returning users
// at that rule count measure another workload than the one they are
// labelled with (outside a scenario a turn scores no step), and are void.
const minInScenario = 0.9

// voidReason says why the runs of these returning users are void, or "".
func (s seeding) voidReason() string {
	if s.users == 0 || float64(s.inScenario) >= minInScenario*float64(s.users) {
		return ""
	}
	return fmt.Sprintf("only %d of %d returning users (%.0f%%) were in the scenario when their load began, fewer than %.0f%%",
		s.inScenario, s.users, 100*float64(s.inScenario)/float64(s.users), 100*minInScenario)
}

// seededText says, from the run, how many returning users were in the
// scenario at each rule count.
func seededText(seeded []seeding) string {
	if len(seeded) == 0 {
		return ""
	}
	parts := make([]string, len(seeded))
	for i, s := range seeded {
		parts[i] = fmt.Sprintf("%d of %d at %d rules", s.inScenario, s.users, s.rules)
		if s.openings != "" {
			parts[i] += " (" + s.openings + ")"
		}
	}
	return fmt.Sprintf(" Returning users in the scenario when their load began: %s; runs of returning users at a rule count where fewer than %.0f%% were are void.",
		strings.Join(parts, ", "), 100*minInScenario)
}

// settlingText says, from the runs, how long the bench waited for a quiet
// machine before them (see quietWindow), and how many began without it.
func settlingText(pairs []pairRow) string {
	var waits, ginPacked []float64
	var longest time.Duration
	var longestRun string
	loud := 0
	for _, p := range pairs {
		for _, side := range []struct {
			name string
			runs []loadRun
		}{{"Focal", p.focal}, {"bare gin", p.gin}} {
			for _, r := range side.runs {
				waits = append(waits, r.Settled.waited.Seconds())
				if side.name == "bare gin" {
					ginPacked = append(ginPacked, r.Settled.packed.Seconds())
				}
				if !r.Settled.quiet {
					loud++
				}
				if r.Settled.waited > longest || longestRun == "" {
					longest, longestRun = r.Settled.waited, side.name+", "+p.config.label()
				}
			}
		}
	}
	if len(waits) == 0 {
		return ""
	}
	text := fmt.Sprintf(" Every run began on a quiet machine: Focal works on after a run (it packs the sessions the run left idle and collects garbage), which would slow the next run, bare gin's included, so the bench waited until Focal had packed every session (its `%s` at 0; packing starts only once a session has gone unused for seconds, and at a few percent of a core it passes for quiet: %.1f s at the median before a bare gin run), then until all its processes together had used at most %.0f%% of one core over %s; the whole waits took %.1f s at the median and %.1f s at the longest (before a %s run)",
		packBacklogMetric, median(ginPacked), 100*quietBusy, quietWindow, median(waits), longest.Seconds(), longestRun)
	if loud > 0 {
		return text + fmt.Sprintf("; %d of %d runs began without quiet after %s.", loud, len(waits), quietLimit)
	}
	return text + "."
}

// addPair adds a configuration's runs, void when they talked as
// returning users too few of whom the scenario held at its rule count.
func (r *report) addPair(row pairRow) {
	if row.config.workload != "new" {
		for _, s := range r.seeded {
			if s.rules == row.config.rules {
				row.seedVoid = s.voidReason()
			}
		}
	}
	r.pairs = append(r.pairs, row)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianOf(runs []loadRun, f func(loadRun) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return median(xs)
}

// slowestOf is the highest of f over runs, 0 for none.
func slowestOf(runs []loadRun, f func(loadRun) float64) float64 {
	v := 0.0
	for _, r := range runs {
		v = max(v, f(r))
	}
	return v
}

func p50ms(r loadRun) float64 { return float64(r.P50US) / 1000 }
func p90ms(r loadRun) float64 { return float64(r.P90US) / 1000 }
func p99ms(r loadRun) float64 { return float64(r.P99US) / 1000 }
func rps(r loadRun) float64   { return r.Throughput() }

func (r *report) pair(workload string, rules, conns int) *pairRow {
	for i := range r.pairs {
		if c := r.pairs[i].config; c.workload == workload && c.rules == rules && c.conns == conns && !c.again {
			return &r.pairs[i]
		}
	}
	return nil
}

// voidOf says why a row has no usable measurement, or "".
func voidOf(focal []loadRun, voids []string) string {
	if len(focal) == 0 {
		if len(voids) == 0 {
			return "no runs"
		}
		return "every run thrown out: " + strings.Join(voids, "; ")
	}
	return ""
}

func (r *report) costsOf(row *pairRow) string {
	if row == nil || row.profile == nil {
		return ""
	}
	return row.profile.markdown("CPU profile of Focal, "+row.config.label(), row.focalCPUus())
}

// focalCPUus is the median CPU Focal used per turn over the row's valid
// pairs, 0 when it was not measured.
func (r pairRow) focalCPUus() float64 {
	focal, _, _ := r.validPairs()
	return medianOf(focal, serverCPUus)
}

// budgetText says, from the row's CPU readings, how much CPU per turn
// Focal may use to reach share of bare gin's throughput on this machine,
// and how far the run was from it; "" when CPU was not read.
func budgetText(row *pairRow, cores int, share float64) string {
	focal, gin, _ := row.validPairs()
	used, ginUsed := medianOf(focal, serverCPUus), medianOf(gin, serverCPUus)
	if used <= 0 || ginUsed <= 0 {
		return ""
	}
	wrk, ginRPS := medianOf(focal, loadCPUus), medianOf(gin, rps)
	rate := share * ginRPS
	text := fmt.Sprintf("**CPU per request** (each process's CPU time over its run's requests, medians of the valid pairs): Focal %.0f µs per turn, bare gin %.0f µs per request; wrk %.0f µs per request beside Focal and %.0f beside bare gin. ",
		used, ginUsed, wrk, medianOf(gin, loadCPUus))
	budget := cpuBudget(cores, ginRPS, share, wrk)
	if budget <= 0 {
		return text + fmt.Sprintf("At %.0f turns/s (%.0f%% of bare gin) wrk alone would fill the %d cores.", rate, 100*share, cores)
	}
	busy := min(1, busyShare(cores, ginRPS, ginUsed, medianOf(gin, loadCPUus)))
	busyBudget := cpuBudgetBusy(cores, busy, ginRPS, share, wrk)
	text += fmt.Sprintf("At %.0f turns/s (%.0f%% of bare gin), with wrk costing what it did beside Focal, the %d cores leave Focal %.0f µs per turn when busy all the time, and %.0f µs when as busy as bare gin's runs kept them (%.0f%% of the time, its and wrk's CPU over their runs): ",
		rate, 100*share, cores, budget, busyBudget, 100*busy)
	if used <= busyBudget {
		// Within its budget and still short of the rate: the cores were
		// not Focal's and wrk's alone, or less busy than bare gin's runs
		// kept them.
		return text + "more than it used, so its CPU per turn did not hold the run back; what else ran on the machine, or cores left idle, did."
	}
	if busyBudget <= 0 {
		return text + "wrk alone would fill the time bare gin's runs kept the cores busy."
	}
	return text + fmt.Sprintf("%.1f× less CPU than it used (%.1f× at full use).", used/busyBudget, used/budget)
}

// targets lists every target with the verdict this run's numbers give.
func (r *report) targets() []targetRow {
	var rows []targetRow
	if row := r.pair("mix", 100, 32); row != nil {
		rows = append(rows, r.throughputTargets(row)...)
	}
	for _, t := range latencyTargets {
		if row, ok := r.latencyRow(t); ok {
			rows = append(rows, row)
		}
	}
	if s := r.soak; s != nil {
		t := targetRow{target: fmt.Sprintf("soak: RSS slope ≤ 1 MiB/min after the first minute (%s of the mix)", s.duration),
			measured: fmt.Sprintf("%+.2f MiB/min (live heap %+.2f MiB/min)", s.slope, s.liveSlope), compare: fmt.Sprintf("%.0f turns/s; %s", s.rate, s.retention),
			status: judge(s.slope <= 1, s.voidReason)}
		if t.status != met {
			t.costs = fmt.Sprintf("**Soak.** RSS samples (MiB): %s; live heap: %s. %s %s", s.series(false), s.series(true), s.swept, s.heapSamples)
		}
		rows = append(rows, t)
	}
	return append(rows, r.extra...)
}

// throughputTargets are the throughput target and the latencies beside
// it, from the returning-user mix at 32 connections.
func (r *report) throughputTargets(row *pairRow) []targetRow {
	focal, gin, voids := row.validPairs()
	ratios := row.ratios()
	ratio := median(ratios)
	measured := fmt.Sprintf("%.0f turns/s = %.0f%% (per pair: %s)", medianOf(focal, rps), 100*ratio, percents(ratios))
	if n := len(row.focal) - len(focal); n > 0 {
		measured += fmt.Sprintf("; %d pair(s) thrown out", n)
	}
	t := targetRow{target: "returning-user mix, 32 connections: ≥ 50% of bare gin's throughput", measured: orVoid(measured, focal, voids),
		compare: unlessVoid(fmt.Sprintf("bare gin %.0f req/s", medianOf(gin, rps)), focal), status: judge(ratio >= 0.5, voidOf(focal, voids))}
	if t.status == notMet {
		t.costs = strings.TrimSpace(budgetText(row, runtime.NumCPU(), 0.5) + "\n\n" + r.costsOf(row))
	}
	return []targetRow{t, {target: "32 connections: p50 / p99 beside bare gin",
		measured: orVoid(fmt.Sprintf("%.3f / %.3f ms", medianOf(focal, p50ms), medianOf(focal, p99ms)), focal, voids),
		compare:  unlessVoid(fmt.Sprintf("bare gin %.3f / %.3f ms", medianOf(gin, p50ms), medianOf(gin, p99ms)), focal), status: informational}}
}

// orVoid is measured, or why nothing was when every run was thrown out:
// figures of no run would read as zeros.
func orVoid(measured string, focal []loadRun, voids []string) string {
	if why := voidOf(focal, voids); why != "" {
		return why
	}
	return measured
}

// unlessVoid is a figure to compare with, or a dash when every run was
// thrown out and there is nothing to compare.
func unlessVoid(compare string, focal []loadRun) string {
	if len(focal) == 0 {
		return "—"
	}
	return compare
}

func percents(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f%%", 100*x)
	}
	return strings.Join(parts, ", ")
}

// series is the samples' RSS, or with live their live heap, in MiB.
func (s *soakResult) series(live bool) string {
	parts := make([]string, len(s.samples))
	for i, x := range s.samples {
		v := x.rss
		if live {
			v = x.live
		}
		parts[i] = fmt.Sprintf("%.0f", float64(v)/(1<<20))
	}
	return strings.Join(parts, " ")
}

func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	goVersion, _ := exec.Command("go", "version").Output()
	return fmt.Sprintf("%d cores, %s, %s", runtime.NumCPU(), cpu, strings.TrimSpace(string(goVersion)))
}

// markdown is the whole report, section by section.
func (r *report) markdown() string {
	var b strings.Builder
	targets := r.targets()
	r.writeMethod(&b)
	writeTargets(&b, targets)
	r.writePairs(&b)
	r.writeSoak(&b)
	r.writeEngine(&b)
	for _, d := range r.details {
		b.WriteString("\n" + d + "\n")
	}
	if r.integrity != "" {
		b.WriteString("\n## Integrity under load\n\n`load integrity`: 1,000 turns at once, 10% of them repeating another request's Idempotency-Key at the same moment, 50 messages racing on one session; then every turn and session is read back.\n\n```json\n" + r.integrity + "\n```\n")
	}
	writeCosts(&b, targets)
	r.writeProfiles(&b)
	if len(r.notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

// writeMethod writes the title, the machine and how the figures were
// taken.
func (r *report) writeMethod(b *strings.Builder) {
	fmt.Fprintf(b, "# Benchmarks\n\nWritten by `make bench` (`go run ./test/load bench`) on %s, in %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second))
	fmt.Fprintf(b, "- Machine: %s; load average (1, 5, 15 min) at start → end: %s.\n", machine(), r.load)
	b.WriteString("- Method: real processes on loopback. Load comes from `wrk` (closed loop, one thread) with a Lua script that varies users and messages and checks every answer: a run with any non-2xx status, socket error or body that is not a turn (`turn_id`, `session_id`, non-empty `response`) is void and never enters a figure. Each configuration runs as alternating pairs, Focal then a bare gin handler doing the same JSON work with the same script; throughput ratios are taken pair by pair, then the median. Returning users (`ret-*`) were each given " +
		fmt.Sprint(historyTurns) + " turns first, the first meant to start the agent's scenario, and read back to check them." + seededText(r.seeded) + " Rules and messages are Banking77 phrasings (conditions from half of each intent's phrasings, recombined; messages from the other half). The model is the offline one (no model time), so a turn's latency is Focal's own work plus HTTP. Memory store with its default retention." + runOrder(syncConfigs) + r.gc.text() + settlingText(r.pairs) + hostText(r.pairs, r.runs) + "\n\n")
}

// writeTargets writes the table of targets and their verdicts.
func writeTargets(b *strings.Builder, targets []targetRow) {
	b.WriteString("## Targets\n\n| target | measured (median) | to compare with | verdict |\n|---|---|---|---|\n")
	for _, t := range targets {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.target, t.measured, t.compare, t.status)
	}
	b.WriteString("\nModel calls per turn (1, 2 with the rule judge, 0 for exclusive templates) are shown by tests, not timed here: TestGenerationMakesOneCallHoweverManyRulesMatch, TestRuleJudgeOneCallDecidesApplicableRules, TestExclusiveTemplateAnswersWithoutModel.\n")
}

// writePairs writes Focal beside bare gin per configuration, then the
// runs thrown out.
func (r *report) writePairs(b *strings.Builder) {
	if len(r.pairs) == 0 {
		return
	}
	b.WriteString("\n## Chat turns, Focal beside bare gin\n\n| configuration | Focal turns/s | bare gin req/s | ratio per pair | Focal p50 / p90 / p99 ms | bare gin p50 / p99 ms | requests checked | void runs | Focal at start: returning users' turns, live heap |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.pairs {
		focal, gin, _ := row.validPairs()
		var checked int64
		for _, run := range append(slices.Clone(row.focal), row.gin...) {
			checked += run.Requests
		}
		fmt.Fprintf(b, "| %s | %.0f | %.0f | %s | %.3f / %.3f / %.3f | %.3f / %.3f | %d | %d | %s |\n", row.config.label(),
			medianOf(focal, rps), medianOf(gin, rps), percents(row.ratios()),
			medianOf(focal, p50ms), medianOf(focal, p90ms), medianOf(focal, p99ms), medianOf(gin, p50ms), medianOf(gin, p99ms),
			checked, len(row.focal)-len(focal), row.start)
	}
	r.writeCPU(b)
	r.writeHost(b)
	for _, row := range r.pairs {
		if _, _, voids := row.validPairs(); len(voids) > 0 {
			fmt.Fprintf(b, "\nThrown out (%s): %s.\n", row.config.label(), strings.Join(voids, "; "))
			runs := append(slices.Clone(row.focal), row.gin...)
			if i := slices.IndexFunc(runs, func(run loadRun) bool { return run.Sample != "" }); i >= 0 {
				fmt.Fprintf(b, "First bad answer: `%.200s`\n", runs[i].Sample)
			}
		}
	}
}

// writeCPU writes each configuration's CPU per request, when it was read:
// what a turn costs beside what bare gin's request costs, and what the
// load generator cost on each side.
func (r *report) writeCPU(b *strings.Builder) {
	if !slices.ContainsFunc(r.pairs, func(row pairRow) bool { return row.focalCPUus() > 0 }) {
		return
	}
	b.WriteString("\nCPU per request, each process's CPU time (user and system, from `/proc/<pid>/stat`) over its run's requests, medians of the valid pairs; and the server's page faults per request (minflt, the same file: pages touched for the first time, which a heap growing into new memory pays for, each some µs of system time on a virtual machine):\n\n| configuration | Focal µs per turn | bare gin µs per request | wrk µs per request beside Focal | beside bare gin | Focal page faults per turn | bare gin per request |\n|---|---|---|---|---|---|---|\n")
	for _, row := range r.pairs {
		focal, gin, _ := row.validPairs()
		fmt.Fprintf(b, "| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |\n", row.config.label(),
			medianOf(focal, serverCPUus), medianOf(gin, serverCPUus), medianOf(focal, loadCPUus), medianOf(gin, loadCPUus),
			medianOf(focal, serverFaults), medianOf(gin, serverFaults))
	}
}

// writeSoak writes the soak's RSS series and slope.
func (r *report) writeSoak(b *strings.Builder) {
	s := r.soak
	if s == nil {
		return
	}
	fmt.Fprintf(b, "\n## Soak\n\n%s of the returning-user mix at a fixed pace (%.0f turns/s achieved, %d requests, %d void), 10%% with an Idempotency-Key; %s. RSS of the Focal process every 10 s (MiB): %s. Slope after the first minute, least squares: %+.2f MiB/min. The heap the last collection found live at the same moments (`go_gc_heap_live_bytes`, MiB): %s; its slope after the first minute: %+.2f MiB/min. %s %s\n",
		s.duration, s.rate, s.run.Requests, s.run.Non2xx+s.run.Invalid+s.run.SocketErrors, s.retention, s.series(false), s.slope, s.series(true), s.liveSlope, s.swept, s.heapSamples)
}

// writeEngine writes the engine benchmarks' medians.
func (r *report) writeEngine(b *strings.Builder) {
	if len(r.engine) == 0 {
		return
	}
	b.WriteString("\n## Engine alone (`go test -bench BenchmarkRunTurn ./application/alignment/`)\n\nA whole turn through the engine with a zero-latency fake model streaming 10 deltas, memory history.\n\n| benchmark | ns/op | B/op | allocs/op | runs |\n|---|---|---|---|---|\n")
	for _, e := range r.engine {
		col := func(i int) float64 {
			xs := make([]float64, len(e.runs))
			for k, run := range e.runs {
				xs[k] = run[i]
			}
			return median(xs)
		}
		fmt.Fprintf(b, "| %s | %.0f | %.0f | %.0f | %d |\n", e.name, col(0), col(1), col(2), len(e.runs))
	}
}

// writeCosts explains the targets missed, from this run's own data.
func writeCosts(b *strings.Builder, targets []targetRow) {
	var costs []string
	for _, t := range targets {
		if t.costs != "" {
			costs = append(costs, t.costs)
		}
	}
	if len(costs) > 0 {
		b.WriteString("\n## Targets not met: what costs (from this run's profiles and counters)\n\n" + strings.Join(costs, "\n\n") + "\n")
	}
}

// writeProfiles writes each configuration's CPU profile summary.
func (r *report) writeProfiles(b *strings.Builder) {
	if len(r.pairs) == 0 {
		return
	}
	b.WriteString("\n## CPU profiles of the runs\n\nOne Focal run of each configuration, profiled through `FOCAL_DEBUG_ADDR` while it ran and summarised from the profile's samples.\n")
	for _, row := range r.pairs {
		if row.profile != nil {
			b.WriteString("\n" + row.profile.markdown(row.config.label(), row.focalCPUus()))
		}
	}
}

// gcSettings are the collector settings both sides of the pairs applied,
// and the percent each side's collector was at when the pairs began.
type gcSettings struct {
	headroom   string // FOCAL_GC_HEADROOM, or "off"
	floor      int    // FOCAL_GC_PERCENT
	focal, gin int
}

// text says how both sides of the pairs collected garbage.
func (g *gcSettings) text() string {
	if g == nil {
		return ""
	}
	how := fmt.Sprintf("the next collection starting %s over what the last one kept, or %d %% of it if more", g.headroom, g.floor)
	if g.headroom == "off" {
		how = fmt.Sprintf("the next collection starting %d %% over what the last one kept", g.floor)
	}
	return fmt.Sprintf(" Focal and the bare gin handler applied the same Go collector settings, Focal's from the same environment (`FOCAL_GC_HEADROOM`, `FOCAL_GC_PERCENT`): %s; their collectors' percents (`go_gc_gogc_percent`) when the pairs began, Focal's returning users seeded: Focal %d %%, bare gin %d %%.", how, g.focal, g.gin)
}
