package main

import (
	"fmt"
	"slices"
	"strings"
)

// latencyTarget is a one-client latency target: the q-quantile of a
// run's latency at rules rules within limitMS.
type latencyTarget struct {
	name    string
	rules   int
	q       float64 // 0.5 or 0.99: the quantiles wrk's script reports
	limitMS float64
}

// latencyTargets are read from the returning-user mix with one client,
// each from its configuration's first row (see report.pair).
var latencyTargets = []latencyTarget{
	{"one client back to back, 100 rules: p50 ≤ 0.5 ms", 100, 0.5, 0.5},
	{"one client back to back, 100 rules: p99 ≤ 2 ms", 100, 0.99, 2},
	{"one client back to back, 10,000 rules: p99 ≤ 10 ms", 10000, 0.99, 10},
}

// targetsOf are the latency targets read from configuration c's runs.
func targetsOf(c syncConfig) []latencyTarget {
	if c.workload != "mix" || c.conns != 1 || c.again {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(latencyTargets), func(t latencyTarget) bool { return t.rules != c.rules })
}

// quantile names the target's quantile, "p99".
func (t latencyTarget) quantile() string { return fmt.Sprintf("p%.0f", 100*t.q) }

// of is run r's figure for the target, ms.
func (t latencyTarget) of(r loadRun) float64 {
	if t.q == 0.5 {
		return p50ms(r)
	}
	return p99ms(r)
}

// hostOut says why run r is thrown out for the target: the host's stalls
// alone set its quantile beyond the limit, so its figure is the host's.
// It is "" when they did not, or when r's probe cannot say (a run is
// never thrown out on a probe that Focal itself could have delayed).
func (t latencyTarget) hostOut(r loadRun) string {
	x, ok := hostQ(r, t.q)
	if !ok || x <= t.limitMS {
		return ""
	}
	return fmt.Sprintf("the host's stalls alone set its %s at %.3f ms, beyond %g ms", t.quantile(), x, t.limitMS)
}

// keptFor are the valid pairs whose Focal run target t reads, and why
// each other valid pair's Focal run was thrown out for t.
func (r pairRow) keptFor(t latencyTarget) (focal, gin []loadRun, out []string) {
	for _, i := range r.validIndices() {
		if why := t.hostOut(r.focal[i]); why != "" {
			out = append(out, fmt.Sprintf("Focal run %d: %s", i+1, why))
			continue
		}
		focal, gin = append(focal, r.focal[i]), append(gin, r.gin[i])
	}
	return focal, gin, out
}

// wantsMore says whether another pair should run: fewer than runs have,
// or fewer than 2×runs have and one of the configuration's latency
// targets has fewer than runs to read.
func (r pairRow) wantsMore(runs int) bool {
	n := len(r.focal)
	return n < runs || n < 2*runs && !r.validFor(targetsOf(r.config), runs)
}

// validFor says whether each of targets has at least n runs to read.
func (r pairRow) validFor(targets []latencyTarget, n int) bool {
	for _, t := range targets {
		if focal, _, _ := r.keptFor(t); len(focal) < n {
			return false
		}
	}
	return true
}

// latencyRow is target t's row: the verdict from the slowest Focal run
// not thrown out, every valid run's figure beside it, thrown-out ones
// marked, and what the probe measured of the host in each.
func (r *report) latencyRow(t latencyTarget) (targetRow, bool) {
	row := r.pair("mix", t.rules, 1)
	if row == nil {
		return targetRow{}, false
	}
	focal, gin, out := row.keptFor(t)
	_, _, voids := row.validPairs()
	why := voidOf(focal, append(voids, out...))
	// The slowest run's: one stall in a run (wrk fills in the requests it
	// held up) is a tail a median of runs would hide.
	v := slowestOf(focal, t.of)
	measured := fmt.Sprintf("%.3f ms", v)
	list := row.perRun(t, row.focal)
	switch {
	case why != "" && list != "":
		measured = why + " (per run: " + list + ")"
	case why != "":
		measured = why
	case len(out) > 0:
		measured += " (slowest run not thrown out; per run: " + list + ")"
	case len(focal) > 1:
		measured += " (slowest run; per run: " + list + ")"
	}
	compare := fmt.Sprintf("bare gin %.3f ms", slowestOf(gin, t.of))
	if len(gin) > 1 || len(out) > 0 { // a host's stall shows in bare gin's run of the same pair too
		compare += " (per run: " + row.perRun(t, row.gin) + ")"
	}
	compare = unlessVoid(compare, focal)
	if host := row.hostClause(t); host != "" && len(focal) == 0 {
		compare = host
	} else if host != "" {
		compare += "; " + host
	}
	tr := targetRow{target: t.name, measured: measured, compare: compare, status: judge(v <= t.limitMS, why)}
	if tr.status == notMet { // a void run's profile explains no verdict
		tr.costs = r.costsOf(row)
	}
	return tr, true
}

// perRun is t's figure of each valid pair's run of side (row.focal or
// row.gin), ms, marked with the host's share where the host's stalls
// alone set it beyond t's limit (a Focal run so marked is thrown out).
func (r pairRow) perRun(t latencyTarget, side []loadRun) string {
	var parts []string
	for _, i := range r.validIndices() {
		s := fmt.Sprintf("%.3f", t.of(side[i]))
		if t.hostOut(side[i]) != "" {
			x, _ := hostQ(side[i], t.q)
			s += fmt.Sprintf(" (host: %.3f)", x)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// validIndices are the pairs whose two runs both answered only 2xx real
// turns, none when the seeding voided the row.
func (r pairRow) validIndices() []int {
	if r.seedVoid != "" {
		return nil
	}
	var out []int
	for i := range r.focal {
		if r.pairVoid(i) == "" {
			out = append(out, i)
		}
	}
	return out
}

// pairVoid says why pair i is thrown out whatever the target, or "".
func (r pairRow) pairVoid(i int) string {
	if v := r.focal[i].Void(); v != "" {
		return fmt.Sprintf("Focal run %d: %s", i+1, v)
	}
	if v := r.gin[i].Void(); v != "" {
		return fmt.Sprintf("bare gin run %d: %s", i+1, v)
	}
	return ""
}

// probed says whether a probe ran beside any of the row's Focal runs.
func (r pairRow) probed() bool {
	return slices.ContainsFunc(r.focal, func(run loadRun) bool { return run.Host != nil })
}
