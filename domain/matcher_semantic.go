package domain

import (
	"math"
)

// SemanticCalibration maps a condition's semantic evidence to a probability:
// σ(Similarity·s + Lead·(s − s′) + Bias), where s is the message's highest
// cosine similarity to one of the condition's examples and s′ the highest
// to another condition's. The lead matters as much as the level: embedders
// differ in how similar unrelated texts look, but a paraphrase stands out
// from the other conditions under any of them.
type SemanticCalibration struct {
	Similarity float64
	Lead       float64
	Bias       float64
}

// DefaultSemanticCalibration suits sentence encoders whose cosine for a
// paraphrase is 0.7–0.9 and for an unrelated text below 0.4: a message at
// 0.85 of an example and 0.25 ahead of the next condition scores 0.96; one
// at 0.5, level with another condition, 0.12.
var DefaultSemanticCalibration = SemanticCalibration{Similarity: 8, Lead: 10, Bias: -6}

func (c SemanticCalibration) logit(sim, lead float64) float64 {
	return float64(c.Similarity*sim) + float64(c.Lead*lead) + c.Bias
}

// semanticEvidence is one message's similarity to each condition.
type semanticEvidence struct {
	cal  SemanticCalibration
	best []float64 // per condition, its highest similarity (NaN if none known)
	at   []int     // per condition, the example (within it) with that similarity
	// first and second are the conditions with the highest similarities.
	first, second int
}

// semanticEvidence reads a message's similarities; nil when there are none
// or they do not fit the examples.
func (m *Matcher) semanticEvidence(sims []float64) *semanticEvidence {
	if sims == nil || len(sims) != m.NumExamples() {
		return nil
	}
	k := len(m.bias)
	ev := &semanticEvidence{cal: m.semantic, best: make([]float64, k), at: make([]int, k)}
	for c := range k {
		ev.best[c], ev.at[c] = math.NaN(), -1
		for j, s := range sims[m.exampleStart[c]:m.exampleStart[c+1]] {
			if !math.IsNaN(s) && (ev.at[c] < 0 || s > ev.best[c]) {
				ev.best[c], ev.at[c] = min(max(s, -1), 1), j
			}
		}
	}
	ev.first, ev.second = topTwoKnown(ev.best)
	return ev
}

// logit is condition c's semantic log-odds; a condition with no known
// similarity gets what similarity 0 would.
func (ev *semanticEvidence) logit(c int) float64 {
	sim := ev.best[c]
	if math.IsNaN(sim) {
		sim = 0
	}
	other := ev.first
	if c == ev.first {
		other = ev.second
	}
	rival := 0.0
	if other >= 0 && other != c && !math.IsNaN(ev.best[other]) {
		rival = ev.best[other]
	}
	return ev.cal.logit(sim, sim-rival)
}

// topTwoKnown is topTwo ignoring NaN; -1 for a place no value fills.
func topTwoKnown(v []float64) (first, second int) {
	first, second = -1, -1
	for i, x := range v {
		switch {
		case math.IsNaN(x):
		case first < 0 || x > v[first]:
			first, second = i, first
		case second < 0 || x > v[second]:
			second = i
		}
	}
	return first, second
}

// semanticCalibration fits the semantic calibration to the conditions'
// embeddings, when every condition with examples has them, on the same
// sample of examples as the lexical calibration: each example's similarity
// to the rest of its own condition (a positive) and to the examples of its
// nearest competitors (negatives). Otherwise it is the option's or the
// default.
func (m *Matcher) semanticCalibration(conds []MatcherCondition, s *trainingSet) SemanticCalibration {
	fallback := DefaultSemanticCalibration
	if m.opts.Semantic != nil {
		fallback = *m.opts.Semantic
	}
	unit, ok := unitEmbeddings(conds)
	if !ok {
		return fallback
	}
	var points []calPoint
	var sims []condSim
	for c := range conds {
		for j, x := range unit[c] {
			if !s.inLOOSample(int32(m.exampleStart[c] + j)) {
				continue
			}
			sims = append(sims[:0], condSim{c, bestCosine(x, unit[c], j)})
			for _, d := range s.competitors[c][:min(s.tuning.neighbours, len(s.competitors[c]))] {
				sims = append(sims, condSim{int(d), bestCosine(x, unit[d], -1)})
			}
			points = appendSimilarityPoints(points, sims, c)
		}
	}
	if len(points) == 0 {
		return fallback
	}
	fit := fitCalibration(points)
	if fit.w[0] <= 0 && fit.w[1] <= 0 {
		// The embeddings do not tell conditions apart; a calibration
		// that rose with dissimilarity would be worse than none.
		return fallback
	}
	return SemanticCalibration{Similarity: fit.w[0], Lead: fit.w[1], Bias: fit.b}
}

// unitEmbeddings is every condition's example embeddings as unit vectors;
// false when a condition with examples has no embeddings.
func unitEmbeddings(conds []MatcherCondition) ([][][]float64, bool) {
	unit := make([][][]float64, len(conds))
	for c, cond := range conds {
		if len(cond.Examples) > 0 && len(cond.Embeddings) == 0 {
			return nil, false
		}
		for _, e := range cond.Embeddings {
			unit[c] = append(unit[c], unitVector(e))
		}
	}
	return unit, true
}

// bestCosine is the highest dot product of unit vector x with those of ys
// of its length, leaving out ys[skip]; -Inf when none is left.
func bestCosine(x []float64, ys [][]float64, skip int) float64 {
	b := math.Inf(-1)
	for j, y := range ys {
		if j != skip && len(y) == len(x) {
			var d float64
			for k := range x {
				d += float64(x[k] * y[k])
			}
			b = max(b, d)
		}
	}
	return b
}

type condSim struct {
	cond int
	sim  float64
}

// appendSimilarityPoints adds one example's observations: its best
// similarity to each condition in sims (skipping conditions without one)
// and the lead over the best other.
func appendSimilarityPoints(points []calPoint, sims []condSim, own int) []calPoint {
	for _, a := range sims {
		if math.IsInf(a.sim, -1) {
			continue
		}
		rival := math.Inf(-1)
		for _, b := range sims {
			if b.cond != a.cond {
				rival = max(rival, b.sim)
			}
		}
		if math.IsInf(rival, -1) {
			rival = 0
		}
		points = append(points, calPoint{f: [calibrationFeatures]float64{a.sim, a.sim - rival}, pos: a.cond == own})
	}
	return points
}

func unitVector(v []float32) []float64 {
	out := make([]float64, len(v))
	var n float64
	for i, x := range v {
		out[i] = float64(x)
		n += float64(float64(x) * float64(x))
	}
	if n > 0 {
		inv := 1 / math.Sqrt(n)
		for i := range out {
			out[i] *= inv
		}
	}
	return out
}
