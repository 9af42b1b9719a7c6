package main

import (
	"fmt"
	"slices"
	"strings"
)

// The report's account of the host-stall probe (see hoststalls.go): the
// method's sentences, each latency target's clause and the table of
// probed runs, all computed from the runs.

// hostText says, from the runs, what the host-stall probe is, the rule it
// sets, and what it found; "" when no probe ran. runs is how many valid
// runs a target was asked for.
func hostText(pairs []pairRow, runs int) string {
	s := summariseProbes(pairs)
	if s.probed == 0 {
		return ""
	}
	text := fmt.Sprintf(" Around each of the %d one-client runs, Focal's and bare gin's, %s wrk counts a stalled request's wait for the requests it held up, at the run's mean interval, so stalls S_k alone put the q-quantile of a run of length D at the x where Σ max(0, S_k − x) = (1 − q)·D: a Focal run where that x is beyond a latency target's limit measured the host, and is thrown out for that target alone (its figure still shown, marked `(host: x)`); a configuration's runs went on until each of its targets had %d valid or %d pairs had been tried.",
		s.probed, probeWhat("request", "Focal and wrk"), runs, 2*runs)
	text += s.found(fmt.Sprintf(", and the host alone set a run's p99 at %.3f ms at most; Focal runs thrown out: %s", s.worstP99, thrownOutText(pairs)))
	return text + s.costText("Focal's and bare gin's runs alike") + s.unusableText()
}

// probeWhat is what the probe is and which of its records count, said of
// what a run waits on (unit: a request, a token) and of the processes
// beside it (others).
func probeWhat(unit, others string) string {
	return fmt.Sprintf("a host-stall probe ran (`load probe`, started under `chrt -f 1`): one thread pinned to each CPU sleeps a fixed time over and over and notes each wake-up later than a floor. At real-time priority no ordinary process, %s included, can keep it waiting, only the host (a virtual CPU it does not run) or the kernel can; a stretch when every CPU's sleeper was late at once is a stall of the whole machine, which every %s in flight waits out, while one CPU late alone may have held up nothing of the run and counts for nothing.", others, unit)
}

// found says what the usable probes found, extra completing its last
// sentence; "" when none was usable.
func (s probeSummary) found(extra string) string {
	h := s.sample
	if h == nil {
		return ""
	}
	return fmt.Sprintf(" Here the probe slept %g ms at a time on each of %d CPUs, noting wake-ups more than %g ms late, under %s (read back on its threads) in %d of the %d runs. The longest stall of the whole machine within a run was %.1f ms (%s), the longest of one CPU alone %.1f ms%s.",
		float64(h.IntervalUS)/1000, len(h.CPUs), float64(h.FloorUS)/1000, strings.Join(s.policies, ", "), s.usable, s.probed,
		s.longest, s.longestRun, s.longestCPU, extra)
}

// costText says what the probe itself took from the runs it watched,
// whose: whose runs it took it from.
func (s probeSummary) costText(whose string) string {
	if len(s.shares) == 0 {
		return ""
	}
	return fmt.Sprintf(" The probe itself used %.1f%% of one CPU while it watched a run (median over the runs, from its CPU time in `/proc`), taken from %s.", 100*median(s.shares), whose)
}

// unusableText says in how many runs the probe could not say, and why.
func (s probeSummary) unusableText() string {
	if len(s.unusable) == 0 {
		return ""
	}
	return fmt.Sprintf(" In %d of the %d runs the probe could not say, and threw nothing out: %s.", s.probed-s.usable, s.probed, strings.Join(s.unusable, "; "))
}

// probeSummary is what the probes around a report's runs found, all runs
// together.
type probeSummary struct {
	probed, usable int
	sample         *hostStalls // a usable probe's result, for its settings
	policies       []string
	unusable       []string // why the probes that could not say could not
	shares         []float64
	// longest is the longest stall of the whole machine in a run, ms, in
	// longestRun; longestCPU the longest of one CPU alone; worstP99 the
	// highest p99 the host alone set in a one-client run.
	longest, longestCPU, worstP99 float64
	longestRun                    string
}

// summariseProbes sums up the probes beside every run of pairs.
func summariseProbes(pairs []pairRow) probeSummary {
	s := probeSummary{longestRun: "none"}
	for _, p := range pairs {
		for i := range p.focal {
			s.addRun(p.focal[i], fmt.Sprintf("Focal run %d, %s", i+1, p.config.label()))
			s.addRun(p.gin[i], fmt.Sprintf("bare gin run %d, %s", i+1, p.config.label()))
		}
	}
	return s
}

// addRun takes in the probe beside one-client run r, named name, and the
// p99 its stalls alone set.
func (s *probeSummary) addRun(r loadRun, name string) {
	if s.add(r.Host, name) {
		q, _ := hostQ(r, 0.99)
		s.worstP99 = max(s.worstP99, q)
	}
}

// add takes in h, the probe beside the run named name, and says whether
// it could say anything.
func (s *probeSummary) add(h *hostStalls, name string) bool {
	if h == nil {
		return false
	}
	s.probed++
	if h.cpuShare > 0 {
		s.shares = append(s.shares, h.cpuShare)
	}
	if why := h.unusable(); why != "" {
		s.unusable = appendNew(s.unusable, why)
		return false
	}
	s.usable++
	s.sample, s.policies = h, appendNew(s.policies, h.Policy)
	if longest := h.longest(); longest > s.longest {
		s.longest, s.longestRun = longest, name
	}
	s.longestCPU = max(s.longestCPU, h.worstCPU())
	return true
}

// appendNew appends x to xs unless it is there already.
func appendNew(xs []string, x string) []string {
	if slices.Contains(xs, x) {
		return xs
	}
	return append(xs, x)
}

// thrownOutText counts, per latency target, the Focal runs the host's
// stalls threw out of the runs valid otherwise.
func thrownOutText(pairs []pairRow) string {
	var parts []string
	for _, t := range latencyTargets {
		for _, p := range pairs {
			if slices.Contains(targetsOf(p.config), t) {
				if _, _, out := p.keptFor(t); len(out) > 0 {
					parts = append(parts, fmt.Sprintf("%d of %d for “%s”", len(out), len(p.validIndices()), t.name))
				}
			}
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// writeHost writes, per probed run, what the probe saw and what the host
// alone set, and for which targets a Focal run was thrown out.
func (r *report) writeHost(b *strings.Builder) {
	if !slices.ContainsFunc(r.pairs, pairRow.probed) {
		return
	}
	b.WriteString("\nThe host-stall probe around each one-client run (see the method): the run's p50 / p99, the probe's wake-ups (those later than its floor), the longest lateness of one CPU alone and of the whole machine (every CPU late at once) within the run, the p50 / p99 the whole machine's stalls alone set in it, and the targets a Focal run was thrown out for.\n\n| configuration | run | p50 / p99 ms | probe wake-ups (late) | longest late, one CPU / whole machine, ms | host alone p50 / p99 ms | thrown out for |\n|---|---|---|---|---|---|---|\n")
	for _, p := range r.pairs {
		for i := range p.focal {
			for _, side := range []struct {
				name string
				run  loadRun
			}{{"Focal", p.focal[i]}, {"bare gin", p.gin[i]}} {
				h := side.run.Host
				if h == nil {
					continue
				}
				fmt.Fprintf(b, "| %s | %s %d | %.3f / %.3f | %s | %s |\n", p.config.label(), side.name, i+1, p50ms(side.run), p99ms(side.run),
					hostCells(side.run), thrownFor(p, i, side.name == "Focal"))
			}
		}
	}
}

// hostCells are the probe's cells of a one-client run's line: what it saw
// (probeCells), then the p50 / p99 the host alone set.
func hostCells(r loadRun) string {
	if r.Host.unusable() != "" {
		return probeCells(r.Host) + " | —"
	}
	q50, _ := hostQ(r, 0.5)
	q99, _ := hostQ(r, 0.99)
	return fmt.Sprintf("%s | %.3f / %.3f", probeCells(r.Host), q50, q99)
}

// probeCells are two cells of what probe h saw around a run: its
// wake-ups (those late), and the longest lateness of one CPU alone and
// of the whole machine; why it cannot say in their place when it cannot.
func probeCells(h *hostStalls) string {
	late := 0
	for _, c := range h.cpus() {
		late += len(c.Late)
	}
	if why := h.unusable(); why != "" {
		return fmt.Sprintf("%d (%d): %s | —", h.wakes(), late, why)
	}
	return fmt.Sprintf("%d (%d) | %.1f / %.1f", h.wakes(), late, h.worstCPU(), h.longest())
}

// thrownFor names the targets pair i's Focal run was thrown out for.
func thrownFor(p pairRow, i int, focal bool) string {
	if !focal || !slices.Contains(p.validIndices(), i) {
		return "—"
	}
	var names []string
	for _, t := range targetsOf(p.config) {
		if t.hostOut(p.focal[i]) != "" {
			names = append(names, fmt.Sprintf("%s ≤ %g ms", t.quantile(), t.limitMS))
		}
	}
	if len(names) == 0 {
		return "—"
	}
	return strings.Join(names, ", ")
}

// hostClause says, per valid Focal run, what the probe found the host
// alone did to it and the rule, "" when no probe ran.
func (r pairRow) hostClause(t latencyTarget) string {
	if !r.probed() {
		return ""
	}
	var q, machine, cpu, unusable []string
	for _, i := range r.validIndices() {
		run := r.focal[i]
		x, ok := hostQ(run, t.q)
		if !ok {
			q, machine, cpu = append(q, "—"), append(machine, "—"), append(cpu, "—")
			unusable = append(unusable, fmt.Sprintf("run %d: %s", i+1, run.Host.unusable()))
			continue
		}
		q = append(q, fmt.Sprintf("%.3f", x))
		machine = append(machine, fmt.Sprintf("%.1f", run.Host.longest()))
		cpu = append(cpu, fmt.Sprintf("%.1f", run.Host.worstCPU()))
	}
	if len(q) == 0 {
		return ""
	}
	text := fmt.Sprintf("the host alone per Focal run (probe): %s %s ms, from a longest stall of the whole machine of %s ms (of one CPU alone %s ms); a run where it is beyond %g ms is thrown out for this target",
		t.quantile(), strings.Join(q, ", "), strings.Join(machine, ", "), strings.Join(cpu, ", "), t.limitMS)
	if len(unusable) > 0 {
		text += "; nothing thrown out where the probe could not say (" + strings.Join(unusable, "; ") + ")"
	}
	return text
}
