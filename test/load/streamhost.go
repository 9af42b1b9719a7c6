package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The streaming section's side of the host-stall probe (hoststalls.go):
// one probe around each run, Focal's streams and the straight ones
// together, and the rule that throws a run out of the delay target when
// the host alone could have set its p99.
//
// A token through Focal waits for two processes the host can delay to be
// woken, Focal's and then the client's; a straight stream's client is
// the tap's process, already awake. So the host weighs on Focal's tokens
// more than on the straight ones, and how much the probe cannot bound:
// it notes a stall of the whole machine only from the first sleeper's
// due wake-up (it may have begun up to one sleep before), and not the
// wake-ups after it. A Focal token whose delivery window (from the tap
// passing its delta on to the client reading its event) overlaps a stall
// of the whole machine as the probe noted it therefore counts as held up
// by the host, whatever its delay. A run's p99 over n tokens is the
// token at place tailPlaces(n, 0.99) from the worst: when at least that
// many were held up, the host alone could have filled every place from
// the worst to the p99, and the run decides the target neither way. When
// fewer were, the p99 is no more than the delay of some token the host
// did not hold up (the token at place tailPlaces − held among them), so
// Focal's own tokens decide it. No token is ever left out of a p99.

// probedStreaming runs once with the host-stall probe around it.
func (b *bench) probedStreaming(once func() streamingRun) streamingRun {
	var r streamingRun
	host := b.probed(func() (int64, time.Duration) {
		began := monotonicNS()
		r = once()
		end := monotonicNS()
		return end, time.Duration(end - began)
	})
	r.host = host
	return r
}

// monoClock puts this process's clock readings on CLOCK_MONOTONIC, the
// probe's clock. Go's own monotonic reading counts from the process's
// start, so it compares only within one process; the two tick together,
// so one pair of readings taken side by side ties them.
type monoClock struct {
	at time.Time // read between two readings of CLOCK_MONOTONIC
	// mono is CLOCK_MONOTONIC at the moment at was read, ns, within
	// slack either way.
	mono, slack int64
}

// monoPairs is how many times newMonoClock reads the two clocks side by
// side, keeping the closest pair: a preemption between two readings
// widens one pair, seldom every one.
const monoPairs = 5

// newMonoClock ties the clocks now.
func newMonoClock() monoClock {
	best := monoClock{slack: math.MaxInt64}
	for range monoPairs {
		before := monotonicNS()
		at := time.Now()
		after := monotonicNS()
		if gap := (after - before + 1) / 2; gap < best.slack {
			best = monoClock{at: at, mono: before + (after-before)/2, slack: gap}
		}
	}
	return best
}

// ns is t on CLOCK_MONOTONIC, ns; t must carry Go's monotonic reading
// (time.Now does).
func (c monoClock) ns(t time.Time) int64 { return c.mono + t.Sub(c.at).Nanoseconds() }

// heldUpBy is how many of windows overlap one of stalls (in order and
// apart): the tokens in flight while the whole machine stood still.
func heldUpBy(windows, stalls []span) int {
	n := 0
	for _, w := range windows {
		// The first stall to end after the window begins is the only one
		// that can overlap it first.
		i, _ := slices.BinarySearchFunc(stalls, w.from, func(s span, from int64) int {
			return cmp.Compare(s.to, from+1)
		})
		if i < len(stalls) && stalls[i].from < w.to {
			n++
		}
	}
	return n
}

// tailPlaces is how many of n values lie from the worst to their
// q-quantile (percentile) inclusive.
func tailPlaces(n int, q float64) int {
	if n == 0 {
		return 0
	}
	return n - int(q*float64(n-1))
}

// heldUp is how many of the run's Focal tokens the host held up, and
// whether its probe can say.
func (r streamingRun) heldUp() (n int, ok bool) {
	if r.host.unusable() != "" {
		return 0, false
	}
	return heldUpBy(r.windows, r.host.machineSpans()), true
}

// hostOut says why the run is thrown out of the delay target, or "": it
// is when the host held up as many of Focal's tokens as lie from the
// worst to the p99, and never on a probe that cannot say.
func (r streamingRun) hostOut() string {
	n, ok := r.heldUp()
	places := tailPlaces(len(r.focal), 0.99)
	if !ok || places == 0 || n < places {
		return ""
	}
	return fmt.Sprintf("%d of its %d Focal tokens were in flight during a stall of the whole machine, at least the %d from its worst to its p99: the host alone could have set its p99",
		n, len(r.focal), places)
}

// hostMark is what a run thrown out of the delay target carries beside
// its figures, "" for one not thrown out.
func (r streamingRun) hostMark() string {
	if r.hostOut() == "" {
		return ""
	}
	n, _ := r.heldUp()
	return fmt.Sprintf(" (host: %d of %d held up)", n, len(r.focal))
}

// heldCell is the run's cell of Focal tokens held up by the host beside
// the p99's place from the worst, and whether that threw it out.
func (r streamingRun) heldCell() string {
	n, ok := r.heldUp()
	if !ok {
		return "—"
	}
	cell := fmt.Sprintf("%d / %d", n, tailPlaces(len(r.focal), 0.99))
	if r.hostOut() != "" {
		cell += ": void for the delay target"
	}
	return cell
}

// decisive are the valid runs the delay target reads: those the host
// could not have set the p99 of.
func (m streamingMeasure) decisive() []streamingRun {
	return slices.DeleteFunc(m.valid(), func(r streamingRun) bool { return r.hostOut() != "" })
}

// delayVoidReason says why no run is left for the delay target, or "".
func (m streamingMeasure) delayVoidReason() string {
	if why := m.voidReason(); why != "" {
		return why
	}
	if len(m.decisive()) == 0 {
		return "every run thrown out: " + strings.Join(m.voids(true), "; ")
	}
	return ""
}

// probed says whether a probe ran beside any of the runs.
func (m streamingMeasure) probed() bool {
	return slices.ContainsFunc(m.runs, func(r streamingRun) bool { return r.host != nil })
}

// hostClause says, per valid run, what the probe found the host did to
// its Focal tokens and the rule; "" when no probe ran.
func (m streamingMeasure) hostClause() string {
	if !m.probed() {
		return ""
	}
	var held, machine, cpu, unusable []string
	for i, r := range m.runs {
		if r.void != "" {
			continue
		}
		if why := r.host.unusable(); why != "" {
			held, machine, cpu = append(held, "—"), append(machine, "—"), append(cpu, "—")
			unusable = append(unusable, fmt.Sprintf("run %d: %s", i+1, why))
			continue
		}
		n, _ := r.heldUp()
		held = append(held, fmt.Sprintf("%d / %d", n, tailPlaces(len(r.focal), 0.99)))
		machine = append(machine, fmt.Sprintf("%.1f", r.host.longest()))
		cpu = append(cpu, fmt.Sprintf("%.1f", r.host.worstCPU()))
	}
	if len(held) == 0 {
		return ""
	}
	text := fmt.Sprintf("the host per run (probe): Focal tokens in flight during a stall of the whole machine / the p99's place from the worst %s, from a longest stall of the whole machine of %s ms (of one CPU alone %s ms); a run with as many held up as that place is void for this target",
		strings.Join(held, ", "), strings.Join(machine, ", "), strings.Join(cpu, ", "))
	if len(unusable) > 0 {
		text += "; nothing thrown out where the probe could not say (" + strings.Join(unusable, "; ") + ")"
	}
	return text
}

// hostText says, from the runs, what the probe is, the rule it sets on
// the delay target and what it found; "" when no probe ran.
func (m streamingMeasure) hostText() string {
	s := probeSummary{longestRun: "none"}
	most, tokens := 0, 0
	var out []string
	for i, r := range m.runs {
		s.add(r.host, fmt.Sprintf("run %d", i+1))
		if n, ok := r.heldUp(); ok && r.void == "" {
			most, tokens = max(most, n), cmp.Or(tokens, len(r.focal))
		}
		if r.void == "" && r.hostOut() != "" {
			out = append(out, fmt.Sprintf("run %d", i+1))
		}
	}
	if s.probed == 0 {
		return ""
	}
	text := " Around each run, Focal's streams and the straight ones together, " + probeWhat("token", "Focal, the model and the bench") +
		" The tap's and the client's times, read in the bench process, are put on the probe's clock (CLOCK_MONOTONIC, which every process shares; the bench reads it beside its own clock at the start of each run). A token through Focal waits for Focal's process and then the client's to be woken, each of which the host can delay, while a straight stream's client is the tap's process, already awake: a Focal token whose window, from the tap passing its delta on to the client reading its event, overlaps a stall of the whole machine counts as held up by the host whatever its delay, since how long the host held it the probe cannot bound (it notes a stall only from the first sleeper's due wake-up, and not the wake-ups after it; only the stretch it noted is counted, so no token it did not see in flight is). A run's p99 over its n Focal tokens is the token at place n − ⌊0.99·(n − 1)⌋ from the worst"
	if tokens > 0 {
		text += fmt.Sprintf(" (%d of %d here)", tailPlaces(tokens, 0.99), tokens)
	}
	text += ": a run with at least that many held up could have had its p99 set by the host alone, whichever way it reads, and is void for the delay target (its figures still shown, marked `(host: held up of n)`), while it still counts for time to first token; with fewer, its p99 is no more than the delay of a token the host did not hold up."
	thrown := "none"
	if len(out) > 0 {
		thrown = fmt.Sprintf("%d of %d (%s)", len(out), len(m.valid()), strings.Join(out, ", "))
	}
	text += s.found(fmt.Sprintf(", and at most %d of a valid run's Focal tokens were in flight during one; runs the host's stalls threw out of the delay target: %s", most, thrown))
	return text + s.costText("Focal's streams and the straight ones alike") + s.unusableText()
}
