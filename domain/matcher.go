package domain

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// MatcherCondition is one condition's training data.
type MatcherCondition struct {
	Examples  []string // phrasings that should match
	Negatives []string // phrasings that must not match (optional)
	// Embeddings, optional, are the examples' embedding vectors (one per
	// example, same order). When every condition with examples has them,
	// CompileMatcher fits the semantic signal's calibration to the
	// embedder instead of using DefaultSemanticCalibration.
	Embeddings [][]float32
}

// MatcherOptions tunes CompileMatcher; the zero value gives the defaults.
type MatcherOptions struct {
	// Cost is the inverse regularisation strength of each condition's
	// logistic regression (default 20): higher fits the examples more
	// closely.
	Cost float64
	// Workers bounds the goroutines compiling conditions in parallel
	// (default GOMAXPROCS). The model does not depend on it.
	Workers int
	// ReportFloor is the score below which Score leaves a condition out
	// when asked about every condition (default 0.01).
	ReportFloor float64
	// Semantic calibrates the semantic signal when the conditions carry no
	// embeddings to fit it on (default DefaultSemanticCalibration).
	Semantic *SemanticCalibration

	tuning *matcherTuning // tests only; nil means defaultMatcherTuning
}

func (o MatcherOptions) withDefaults() MatcherOptions {
	if o.Cost <= 0 {
		o.Cost = 20
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ReportFloor <= 0 {
		o.ReportFloor = 0.01
	}
	if o.tuning == nil {
		o.tuning = &defaultMatcherTuning
	}
	return o
}

// DefaultMatcherThreshold is the score at which a condition applies. Scores
// are calibrated probabilities, so this is where applying becomes more
// likely than not.
const DefaultMatcherThreshold = 0.5

// matcherBiasValue is the constant feature every example carries, whose
// weight is the model's intercept. At 1 the intercept is regularised like
// any weight, which measured best: a condition cannot buy a high score for
// every message through its intercept.
const matcherBiasValue = 1.0

// ErrNoConditions is returned by CompileMatcher for an empty condition list.
var ErrNoConditions = errors.New("matcher: no conditions")

// Matcher scores messages against conditions learned from examples. It is
// immutable once compiled and safe for concurrent use.
type Matcher struct {
	opts   MatcherOptions
	tuning matcherTuning
	vocab  *matcherVocab
	// exampleStart[c] is the flat index of condition c's first example;
	// the last entry is the number of examples.
	exampleStart []int
	// Weights by feature, for scoring by postings: feature f's weights
	// are postCond/postW[postStart[f]:postStart[f+1]], by condition.
	postStart []int32
	postCond  []int32
	postW     []float32
	bias      []float64 // per condition, its intercept
	cal       calibration
	// priorLogit is, per condition, the log-odds of its lexical score for
	// a message with no known word: what the lexical signal says when it
	// knows nothing, which the semantic signal is combined against.
	priorLogit []float64
	semantic   SemanticCalibration
	// exampleWords holds each example's word features (ids ascending), to
	// name the example nearest a message.
	exampleWords [][]matcherEntry
	scratch      sync.Pool // *[]float64 of one margin per condition
}

// CompileMatcher learns one model from every condition together: each
// condition is a logistic regression trained on its own examples (and
// against its negatives) and the examples of the conditions it competes
// with, so rules compete rather than interfere. The result depends only on
// conds and opts (not on Workers).
func CompileMatcher(conds []MatcherCondition, opts MatcherOptions) (*Matcher, error) {
	m, _, _, err := compileMatcher(conds, opts)
	return m, err
}

// compileMatcher is CompileMatcher, also returning what it trained on and
// the per-condition models, for CheckMatcher.
func compileMatcher(conds []MatcherCondition, opts MatcherOptions) (*Matcher, *trainingSet, []condModel, error) {
	if len(conds) == 0 {
		return nil, nil, nil, ErrNoConditions
	}
	for c, cond := range conds {
		if cond.Embeddings != nil && len(cond.Embeddings) != len(cond.Examples) {
			return nil, nil, nil, fmt.Errorf("matcher: condition %d has %d embeddings for %d examples", c, len(cond.Embeddings), len(cond.Examples))
		}
	}
	opts = opts.withDefaults()
	m := &Matcher{opts: opts, tuning: *opts.tuning}
	set := newTrainingSet(conds, m.tuning, opts.Workers)
	m.vocab = set.vocab
	m.exampleStart = make([]int, len(conds)+1)
	for c := range conds {
		m.exampleStart[c+1] = m.exampleStart[c] + len(conds[c].Examples)
	}
	models := set.train(opts)
	m.buildPostings(models, len(set.vocab.icf))
	m.cal = fitCalibration(m.calibrationPoints(set, models))
	m.priorLogit = m.emptyMessageLogits()
	m.semantic = m.semanticCalibration(conds, set)
	m.exampleWords = make([][]matcherEntry, set.numExamples)
	for i := range m.exampleWords {
		words := slices.Clone(set.xs[i].e[:set.xs[i].nWords])
		slices.SortFunc(words, func(a, b matcherEntry) int { return int(a.id - b.id) })
		m.exampleWords[i] = words
	}
	m.scratch.New = func() any { s := make([]float64, len(conds)); return &s }
	return m, set, models, nil
}

// buildPostings turns per-condition weights into per-feature postings,
// ordered by condition within a feature.
func (m *Matcher) buildPostings(models []condModel, dim int) {
	start := make([]int32, dim+1)
	for _, model := range models {
		for _, id := range model.weights.ids {
			start[id+1]++
		}
	}
	for i := 1; i <= dim; i++ {
		start[i] += start[i-1]
	}
	m.postStart = start
	m.postCond = make([]int32, start[dim])
	m.postW = make([]float32, start[dim])
	fill := slices.Clone(start[:dim])
	m.bias = make([]float64, len(models))
	for c, model := range models {
		m.bias[c] = model.weights.bias
		for k, id := range model.weights.ids {
			at := fill[id]
			m.postCond[at] = int32(c)
			m.postW[at] = model.weights.w[k]
			fill[id]++
		}
	}
}

// NumConditions is the number of conditions the matcher was compiled from.
func (m *Matcher) NumConditions() int { return len(m.bias) }

// NumExamples is the number of examples of every condition together: the
// length MatchInput.Semantic must have.
func (m *Matcher) NumExamples() int { return m.exampleStart[len(m.exampleStart)-1] }

// margins sets acc[c] to condition c's raw lexical margin for x.
func (m *Matcher) margins(x *matcherVec, acc []float64) {
	copy(acc, m.bias)
	for _, e := range x.e {
		v := float64(e.v)
		lo, hi := m.postStart[e.id], m.postStart[e.id+1]
		conds, ws := m.postCond[lo:hi], m.postW[lo:hi]
		for k, c := range conds {
			acc[c] += v * float64(ws[k])
		}
	}
}

// lead is condition c's margin minus the best other condition's.
func lead(acc []float64, c, first, second int) float64 {
	if c == first {
		return acc[c] - acc[second]
	}
	return acc[c] - acc[first]
}

// emptyMessageLogits scores a message without a single known feature.
func (m *Matcher) emptyMessageLogits() []float64 {
	first, second := topTwo(m.bias)
	out := make([]float64, len(m.bias))
	for c, b := range m.bias {
		out[c] = logit(m.cal.prob([calibrationFeatures]float64{b, lead(m.bias, c, first, second)}))
	}
	return out
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// logit is σ⁻¹, with p kept off 0 and 1 so that it stays finite.
func logit(p float64) float64 {
	p = min(max(p, 1e-6), 1-1e-6)
	return math.Log(p / (1 - p))
}
