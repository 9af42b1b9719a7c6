package evaluation

import (
	"cmp"
	"slices"
	"strings"
)

// Result is what one evaluation run measured.
type Result struct {
	Dataset string `json:"dataset"`
	Bundle  string `json:"bundle"`
	// Rules and Examples describe the bundle; CompileMS is how long
	// compiling its policy took (set by the caller, which compiles).
	Rules     int     `json:"rules"`
	Examples  int     `json:"examples"`
	CompileMS float64 `json:"compile_ms"`

	Turns int `json:"turns"`
	// ExactlyRight counts turns that matched exactly the expected rules
	// and ended in the expected step.
	ExactlyRight int `json:"exactly_right"`
	// SingleLabel counts turns expecting exactly one rule, TopRight those
	// among them whose best-scored candidate was that rule, whether or
	// not it cleared the threshold: an intent classifier's accuracy.
	SingleLabel int `json:"single_label"`
	TopRight    int `json:"top_right"`
	// MacroF1 is the mean over the rules of the F1 of the matching
	// decisions (a rule matched or not, per turn).
	MacroF1 float64 `json:"macro_f1"`
	// OutOfScope counts turns expecting no rule, OutOfScopeRight those
	// where none matched.
	OutOfScope      int `json:"out_of_scope"`
	OutOfScopeRight int `json:"out_of_scope_right"`
	// Kinds are the exactly-right counts by conversation kind.
	Kinds []KindScore `json:"kinds,omitempty"`
	// Confusions are the most frequent wrong decisions; TopConfusions the
	// most frequent wrong best-scored rules of single-label turns.
	Confusions    []Confusion `json:"confusions,omitempty"`
	TopConfusions []Confusion `json:"top_confusions,omitempty"`
	// Sweep is how the decisions of single-label and out-of-scope turns
	// would fare at other match thresholds.
	Sweep    []ThresholdPoint `json:"sweep,omitempty"`
	Matching Timing           `json:"matching"`
	// Misses are the first wrong turns, to read.
	Misses []Observation `json:"misses,omitempty"`
}

// KindScore is how one kind of conversation fared.
type KindScore struct {
	Kind  string `json:"kind"`
	Turns int    `json:"turns"`
	Right int    `json:"right"`
}

// Confusion is a wrong decision and how often it was made: the rules
// expected, the rules matched ("none" for no rule).
type Confusion struct {
	Expected string `json:"expected"`
	Got      string `json:"got"`
	Count    int    `json:"count"`
}

// ThresholdPoint is, at one match threshold, the share of single-label
// turns whose rule alone would clear it (the best-scored is the rule, at
// or over the threshold, and the runner-up under it) and the share of
// out-of-scope turns where nothing would.
type ThresholdPoint struct {
	Threshold    float64 `json:"threshold"`
	InScopeRight float64 `json:"in_scope_right"`
	OOSRecall    float64 `json:"oos_recall"`
}

// sweepThresholds are the thresholds a result's sweep reports.
var sweepThresholds = []float64{0.2, 0.3, 0.4, 0.5, 0.6, 0.7}

// Timing summarises per-turn matching times, in microseconds.
type Timing struct {
	MedianMicros float64 `json:"median_us"`
	P95Micros    float64 `json:"p95_us"`
	MeanMicros   float64 `json:"mean_us"`
}

// Ratio is a share, 0 when there is nothing to share.
func Ratio(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// Accuracy is the top-1 accuracy over single-label turns.
func (r *Result) Accuracy() float64 { return Ratio(r.TopRight, r.SingleLabel) }

// ExactRate is the share of turns exactly right.
func (r *Result) ExactRate() float64 { return Ratio(r.ExactlyRight, r.Turns) }

// OutOfScopeRecall is the share of out-of-scope turns where no rule matched.
func (r *Result) OutOfScopeRecall() float64 { return Ratio(r.OutOfScopeRight, r.OutOfScope) }

// Kind returns a kind's score; zero when the dataset has none of it.
func (r *Result) Kind(kind string) KindScore {
	for _, k := range r.Kinds {
		if k.Kind == kind {
			return k
		}
	}
	return KindScore{Kind: kind}
}

// maxConfusions and maxMisses bound what a result lists.
const (
	maxConfusions = 10
	maxMisses     = 25
)

// Score computes a result from a run's observations.
func Score(obs []Observation) Result {
	r := Result{Turns: len(obs)}
	t := tally{kinds: map[string]*KindScore{}, confusions: map[[2]string]int{}, tops: map[[2]string]int{},
		tp: map[string]int{}, fp: map[string]int{}, fn: map[string]int{}}
	var times []float64
	for _, o := range obs {
		t.add(&r, o)
		times = append(times, o.MatchingMicros)
	}
	r.MacroF1 = macroF1(t.tp, t.fp, t.fn)
	for _, k := range t.kinds {
		r.Kinds = append(r.Kinds, *k)
	}
	slices.SortFunc(r.Kinds, func(a, b KindScore) int { return strings.Compare(a.Kind, b.Kind) })
	r.Confusions = topConfusions(t.confusions)
	r.TopConfusions = topConfusions(t.tops)
	r.Sweep = sweep(obs)
	r.Matching = summarise(times)
	return r
}

// tally is what Score counts beside the result's own counters: turns per
// kind, confused pairs (decided and best-scored), and per rule the true
// positives, false positives and false negatives macro-F1 is taken from.
type tally struct {
	kinds            map[string]*KindScore
	confusions, tops map[[2]string]int
	tp, fp, fn       map[string]int
}

// add counts one observation into r and the tally.
func (t *tally) add(r *Result, o Observation) {
	right := o.Right()
	if right {
		r.ExactlyRight++
	} else {
		exp, got := label(o.Expected), label(o.Matched)
		if exp == got { // the rules were right, the step was not
			exp, got = exp+" @ "+o.ExpectedScenario, got+" @ "+o.Scenario
		}
		t.confusions[[2]string{exp, got}]++
		if len(r.Misses) < maxMisses {
			r.Misses = append(r.Misses, o)
		}
	}
	switch len(o.Expected) {
	case 0:
		r.OutOfScope++
		if len(o.Matched) == 0 {
			r.OutOfScopeRight++
		}
	case 1:
		r.SingleLabel++
		if o.Top == o.Expected[0] {
			r.TopRight++
		} else {
			t.tops[[2]string{o.Expected[0], label([]string{o.Top})}]++
		}
	}
	if o.Kind != "" {
		k := t.kinds[o.Kind]
		if k == nil {
			k = &KindScore{Kind: o.Kind}
			t.kinds[o.Kind] = k
		}
		k.Turns++
		if right {
			k.Right++
		}
	}
	t.decisions(o)
}

// decisions counts each rule matched or expected as a true positive, false
// positive or false negative.
func (t *tally) decisions(o Observation) {
	for _, id := range o.Matched {
		if slices.Contains(o.Expected, id) {
			t.tp[id]++
		} else {
			t.fp[id]++
		}
	}
	for _, id := range o.Expected {
		if !slices.Contains(o.Matched, id) {
			t.fn[id]++
		}
	}
}

// topConfusions lists the most frequent pairs, most frequent first.
func topConfusions(pairs map[[2]string]int) []Confusion {
	var out []Confusion
	for pair, n := range pairs {
		out = append(out, Confusion{Expected: pair[0], Got: pair[1], Count: n})
	}
	slices.SortFunc(out, func(a, b Confusion) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Expected, b.Expected), strings.Compare(a.Got, b.Got))
	})
	return out[:min(len(out), maxConfusions)]
}

// sweep replays the decisions of single-label and out-of-scope turns at
// other thresholds, from the scores the turns recorded. Turns in a
// scenario are left out: navigation, not the threshold, decides them.
func sweep(obs []Observation) []ThresholdPoint {
	var out []ThresholdPoint
	for _, t := range sweepThresholds {
		var in, inRight, oos, oosRight int
		for _, o := range obs {
			if o.ExpectedScenario != "" && o.ExpectedScenario != "none" {
				continue
			}
			switch len(o.Expected) {
			case 0:
				oos++
				if o.TopScore < t {
					oosRight++
				}
			case 1:
				in++
				if o.Top == o.Expected[0] && o.TopScore >= t && o.RunnerUpScore < t {
					inRight++
				}
			}
		}
		if in+oos > 0 {
			out = append(out, ThresholdPoint{Threshold: t, InScopeRight: Ratio(inRight, in), OOSRecall: Ratio(oosRight, oos)})
		}
	}
	return out
}

// label names a set of rules: sorted and joined, "none" when empty.
func label(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	s := slices.Clone(ids)
	slices.Sort(s)
	return strings.Join(s, "+")
}

func macroF1(tp, fp, fn map[string]int) float64 {
	labels := map[string]bool{}
	for _, m := range []map[string]int{tp, fp, fn} {
		for id := range m {
			labels[id] = true
		}
	}
	if len(labels) == 0 {
		return 0
	}
	var sum float64
	for id := range labels {
		sum += Ratio(2*tp[id], 2*tp[id]+fp[id]+fn[id])
	}
	return sum / float64(len(labels))
}

func summarise(times []float64) Timing {
	if len(times) == 0 {
		return Timing{}
	}
	s := slices.Clone(times)
	slices.Sort(s)
	var sum float64
	for _, t := range s {
		sum += t
	}
	return Timing{MedianMicros: s[len(s)/2], P95Micros: s[min(len(s)-1, len(s)*95/100)], MeanMicros: sum / float64(len(s))}
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}
