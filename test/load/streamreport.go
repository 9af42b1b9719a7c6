package main

import (
	"fmt"
	"slices"
	"strings"
)

// The streaming section's report: its two target rows and its details,
// all from the runs measured (streaming.go) and what the host-stall probe
// saw around them (streamhost.go).

// valid are the runs whose every stream answered in full: time to first
// token reads them all.
func (m streamingMeasure) valid() []streamingRun {
	return slices.DeleteFunc(slices.Clone(m.runs), func(r streamingRun) bool { return r.void != "" })
}

// voidReason says why no run is left, or "".
func (m streamingMeasure) voidReason() string {
	switch {
	case m.void != "":
		return m.void
	case len(m.runs) == 0:
		return "no runs"
	case len(m.valid()) == 0:
		return "every run thrown out: " + strings.Join(m.voids(false), "; ")
	}
	return ""
}

// voids are why each run thrown out was; with delay, those the host
// threw out of the delay target too.
func (m streamingMeasure) voids(delay bool) []string {
	var out []string
	for i, r := range m.runs {
		why := r.void
		if why == "" && delay {
			why = r.hostOut()
		}
		if why != "" {
			out = append(out, fmt.Sprintf("run %d: %s", i+1, why))
		}
	}
	return out
}

// medianRun is the median over runs of f.
func medianRun(runs []streamingRun, f func(streamingRun) float64) float64 {
	var xs []float64
	for _, r := range runs {
		xs = append(xs, f(r))
	}
	return median(xs)
}

// perRun is f of each run in order, "void" for a run thrown out; with
// marked, a run the host threw out of the delay target says so beside
// its figure.
func (m streamingMeasure) perRun(f func(streamingRun) float64, format string, marked bool) string {
	parts := make([]string, len(m.runs))
	for i, r := range m.runs {
		switch {
		case r.void != "":
			parts[i] = "void"
		case marked:
			parts[i] = fmt.Sprintf(format, f(r)) + r.hostMark()
		default:
			parts[i] = fmt.Sprintf(format, f(r))
		}
	}
	return strings.Join(parts, ", ")
}

func p99Of(xs []float64) float64 { return percentile(xs, 0.99) }

// targets are the section's two rows: each verdict is on the median of
// the runs that can decide it, each run's figure beside it.
func (m streamingMeasure) targets() []targetRow {
	return []targetRow{m.ttftTarget(), m.delayTarget()}
}

// ttftTarget is time to first token over the valid runs.
func (m streamingMeasure) ttftTarget() targetRow {
	t := targetRow{target: "time to first token = model's + ≤ 5 ms"}
	if why := m.voidReason(); why != "" {
		t.measured, t.compare, t.status = why, "—", void
		return t
	}
	runs := m.valid()
	added := medianRun(runs, streamingRun.addedTTFT)
	t.measured = fmt.Sprintf("+%.2f ms (per run: %s ms; Focal %.2f ms)", added, m.perRun(streamingRun.addedTTFT, "%+.2f", false),
		medianRun(runs, func(r streamingRun) float64 { return median(r.ttftFocal) }))
	t.compare = fmt.Sprintf("fake model alone %.2f ms", medianRun(runs, func(r streamingRun) float64 { return median(r.ttftDirect) }))
	t.status = judge(added <= 5, "")
	return t
}

// delayTarget is the added delay per token over the runs that can decide
// it (decisive), every valid run's figure beside it, marked where the
// host threw it out, and what the probe saw of the host in each.
func (m streamingMeasure) delayTarget() targetRow {
	t := targetRow{target: fmt.Sprintf("added delay per token p99 ≤ %g ms", delayTargetMS)}
	host := m.hostClause()
	if why := m.delayVoidReason(); why != "" {
		t.measured, t.compare, t.status = why, "—", void
		if len(m.valid()) > 0 {
			t.measured += " (per run: " + m.perRun(streamingRun.p99, "%.3f", true) + " ms)"
		}
		if host != "" {
			t.compare = host
		}
		return t
	}
	runs := m.decisive()
	p99 := medianRun(runs, streamingRun.p99)
	t.measured = fmt.Sprintf("p99 %.3f ms (per run: %s ms), p50 %.3f ms", p99, m.perRun(streamingRun.p99, "%.3f", true),
		medianRun(runs, func(r streamingRun) float64 { return median(r.focal) }))
	direct := func(r streamingRun) float64 { return p99Of(r.direct) }
	late := func(r streamingRun) float64 { return p99Of(r.modelLate) }
	t.compare = fmt.Sprintf("straight from the model: p99 %.3f ms (per run: %s ms); the model's own token gaps in the straight streams: p99 %.3f ms late (per run: %s ms)",
		medianRun(runs, direct), m.perRun(direct, "%.3f", false), medianRun(runs, late), m.perRun(late, "%.3f", false))
	if host != "" {
		t.compare += "; " + host
	}
	t.status = judge(p99 <= delayTargetMS, "")
	return t
}

// details is the section's explanation and its runs one by one.
func (m streamingMeasure) details() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Streaming\n\n%d runs of %d streamed turns, each run begun on a quiet machine (all processes together at most %.0f%% of one core over %s, waiting %s at most), after one warm-up stream each way: the fake model (OpenAI wire format, first token after %s, then a token every %s, %d tokens) answered %d of each run's turns through Focal and %d (one in %d) the same request sent straight to it. Both reach the model through a tap in the bench process that notes when it passes each delta on, on the clock the client reads its events by: a token's delay is from the tap passing the model's delta on to the client reading its event, in the same stream, and includes one loopback hop and the client's read, which a client of the model pays too (the straight streams' delay). The verdict is on the median of the runs' p99 over Focal's tokens, every token of a run in its p99; a run with a stream that failed, answered other than 200, ended without its done event (or `[DONE]`) or read another number of tokens than the model sent is thrown out. The model's own gaps are the tap's gaps between deltas beyond %s: how late a process that only sleeps at ordinary priority is woken on this machine. Read in the straight streams, while no stream went through Focal, they are the machine's own lateness, the host's or any other process's (which the host-stall probe, running above every ordinary process, does not see): a run where they are late by more than the target at p99 measured the machine, not Focal, and is thrown out too. In Focal's streams Focal's own work can make them late, so there they are shown and throw nothing out.%s Runs go on until as many as asked for can decide the delay target or twice that many were tried. The agent has no constraints, so nothing is held back.\n",
		len(m.runs), streamsPerRun, 100*quietBusy, quietWindow, quietLimit, streamFirstToken, streamInterval, streamTokens, streamsPerRun-streamsPerRun/directEvery,
		streamsPerRun/directEvery, directEvery, streamInterval, m.hostText())
	if m.void != "" {
		fmt.Fprintf(&b, "\nThrown out: %s.\n", m.void)
		return b.String()
	}
	b.WriteString("\n| run | Focal tokens | delay p50 / p99 / max ms | straight from the model p50 / p99 ms | model's gaps p99 late, straight / through Focal, ms | Focal's gap − model's gap p99 ms | time to first token Focal / straight ms | probe wake-ups (late) | longest late, one CPU / whole machine, ms | Focal tokens held up by the host / the p99's place from the worst | wait for quiet |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range m.runs {
		if r.void != "" {
			fmt.Fprintf(&b, "| %d | void: %s | | | | | | | | | %s |\n", i+1, r.void, r.settled.text())
			continue
		}
		fmt.Fprintf(&b, "| %d | %d | %.3f / %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.3f | %.2f / %.2f | %s | %s | %s |\n", i+1, len(r.focal),
			median(r.focal), r.p99(), slices.Max(r.focal), median(r.direct), p99Of(r.direct), p99Of(r.modelLate), p99Of(r.modelLateFocal), p99Of(r.gapDiff),
			median(r.ttftFocal), median(r.ttftDirect), probeCells(r.host), r.heldCell(), r.settled.text())
	}
	return b.String()
}

// text is how long a run waited for a quiet machine.
func (s settling) text() string {
	if !s.quiet {
		return fmt.Sprintf("%.1f s, not quiet", s.waited.Seconds())
	}
	return fmt.Sprintf("%.1f s", s.waited.Seconds())
}
