package domain

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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
	// MaxResults is how many conditions Score returns at most when asked
	// about every condition (default 32).
	MaxResults int
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
	if o.MaxResults <= 0 {
		o.MaxResults = 32
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
var ErrNoConditions = Errorf(CodeInvalidRequest, "a matcher needs at least one condition")

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
	// are postW[postStart[f]:postStart[f+1]], by condition, the
	// conditions at the same places of postByte in a matcher of at most
	// smallMatcher conditions, of postShort in one of at most
	// shortMatcher, of postCond in a larger one (the others are nil). The
	// narrowest type for a condition and a float32 per weight keep what a
	// message's postings touch small: a matcher of a hundred rules spent
	// more of its time waiting for its postings than adding them, and one
	// of ten thousand is mostly postings.
	postStart []int32
	postCond  []int32
	postShort []uint16
	postByte  []uint8
	postW     []float32
	// tinyRows, in a matcher of at most tinyMatcher conditions, are each
	// feature's weights by condition, as tinyMargins reads them.
	tinyRows [][tinyMatcher]float64
	// placeRows, in a matcher of at most smallMatcher conditions, hold
	// for each feature with more than shortPostings postings where each
	// condition is in them: feature f's row is
	// placeRows[placeAt[f]*n:][:n] for n conditions (placeAt[f] < 0 for a
	// short list), and condition c is at place row[c] when it is there at
	// all. explain reads a condition's weight in such a list there rather
	// than searching for it.
	placeAt   []int32
	placeRows []uint8
	// denseRows, in a matcher of at most smallMatcher conditions none of
	// whose biases is -0, are the weights by condition (0 where none) of
	// each feature with at least denseFrom postings, which smallMargins
	// adds by rows (see addDenseRows): feature f's row is
	// denseRows[weightsAt[f].at:][:n]. denseFrom is above every
	// feature's postings when there are no rows.
	denseRows []float32
	denseFrom int32
	// weightsAt, in a matcher smallMargins reads the margins of (at most
	// smallMatcher conditions, and not tinyMargins'), is where each
	// feature's weights are, by feature (see weightsRef).
	weightsAt []weightsRef
	bias      []float64 // per condition, its intercept
	cal       calibration
	// priorLogit is, per condition, the log-odds of its lexical score for
	// a message with no known word: what the lexical signal says when it
	// knows nothing, which the semantic signal is combined against.
	priorLogit []float64
	semantic   SemanticCalibration
	// examplesByWord holds, by word feature, the examples that have it, to
	// name the example nearest a message.
	examplesByWord examplePostings
	scratch        sync.Pool // *scoreScratch
	// contexts holds the vectors of the contexts read lately (string →
	// matcherVec), at most maxContexts of them, nContexts counting: a step
	// asks the same question turn after turn.
	contexts  sync.Map
	nContexts atomic.Int32
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
			return nil, nil, nil, Errorf(CodeInvalidRequest, "condition %d has %d embeddings for %d examples", c, len(cond.Embeddings), len(cond.Examples))
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
	m.buildPostings(models, set.meanValue)
	m.cal = fitCalibration(m.calibrationPoints(set, models))
	m.priorLogit = m.emptyMessageLogits()
	m.semantic = m.semanticCalibration(conds, set)
	m.examplesByWord = newExamplePostings(set.xs[:set.numExamples], len(set.vocab.icf))
	most := 0
	for c := range conds {
		most = max(most, len(conds[c].Examples))
	}
	m.scratch.New = func() any {
		margins := newMargins(len(conds))
		return &scoreScratch{margins: margins, logOdds: make([]float64, len(conds)), near: make([]float64, matcherExplained*most)}
	}
	return m, set, models, nil
}

// buildPostings turns per-condition weights into per-feature postings,
// ordered by condition within a feature. A feature nearly every condition
// weighs keeps only the matcherPostingsCap weights largest in size: the
// rest add little to any margin but would make scoring visit every
// condition for each common n-gram. What a dropped weight adds on average
// moves into its condition's bias.
func (m *Matcher) buildPostings(models []condModel, meanValue []float64) {
	dim := len(meanValue)
	start, conds, ws, bias := weightsByFeature(models, dim)
	m.bias = bias
	kept := 0
	for f := range dim {
		kept += min(int(start[f+1]-start[f]), matcherPostingsCap)
	}
	m.postStart = make([]int32, dim+1)
	m.postCond = make([]int32, 0, kept)
	m.postW = make([]float32, 0, kept)
	var keep []int
	for f := range dim {
		lo, hi := int(start[f]), int(start[f+1])
		if hi-lo > matcherPostingsCap {
			keep = keep[:0]
			for k := lo; k < hi; k++ {
				keep = append(keep, k)
			}
			// A feature holds a condition once: the order the dropped
			// weights move into their biases in does not matter.
			bestFirst(keep, matcherPostingsCap, func(a, b int) int {
				return cmp.Or(cmp.Compare(math.Abs(float64(ws[b])), math.Abs(float64(ws[a]))), cmp.Compare(a, b))
			})
			for _, k := range keep[matcherPostingsCap:] {
				m.bias[conds[k]] += float64(float64(ws[k]) * meanValue[f])
			}
			keep = keep[:matcherPostingsCap]
			slices.Sort(keep)
			for _, k := range keep {
				m.postCond = append(m.postCond, conds[k])
				m.postW = append(m.postW, ws[k])
			}
		} else {
			m.postCond = append(m.postCond, conds[lo:hi]...)
			m.postW = append(m.postW, ws[lo:hi]...)
		}
		m.postStart[f+1] = int32(len(m.postCond))
	}
	m.indexLayouts()
}

// weightsByFeature gathers the models' weights by feature: feature f's are
// ws[start[f]:start[f+1]], of the conditions conds holds there, ascending;
// bias is each model's intercept. Nothing reads a model's weights again:
// letting each go once gathered keeps one copy of every weight fewer alive
// at the compile's peak.
func weightsByFeature(models []condModel, dim int) (start, conds []int32, ws []float32, bias []float64) {
	start = make([]int32, dim+1)
	for _, model := range models {
		for _, id := range model.weights.ids {
			start[id+1]++
		}
	}
	for i := 1; i <= dim; i++ {
		start[i] += start[i-1]
	}
	conds = make([]int32, start[dim])
	ws = make([]float32, start[dim])
	fill := slices.Clone(start[:dim])
	bias = make([]float64, len(models))
	for c, model := range models {
		bias[c] = model.weights.bias
		for k, id := range model.weights.ids {
			at := fill[id]
			conds[at] = int32(c)
			ws[at] = model.weights.w[k]
			fill[id]++
		}
		models[c].weights.ids, models[c].weights.w = nil, nil
	}
	return start, conds, ws, bias
}

// indexLayouts lays the postings out again as the loops suited to the
// matcher's size read them (see smallMargins, tinyMargins, weightsOf).
func (m *Matcher) indexLayouts() {
	m.indexTiny()
	m.indexSmall()
	m.denseFrom = m.densePostings()
	m.indexPlaces()
	m.indexWeights()
}

// shortPostings is the longest postings list explain searches by steps.
const shortPostings = 8

// indexPlaces sets placeAt and placeRows from the postings, for a matcher
// of at most smallMatcher conditions (others keep none), whose places in
// a list fit a byte.
func (m *Matcher) indexPlaces() {
	n := len(m.bias)
	if n > smallMatcher {
		return
	}
	dim := len(m.postStart) - 1
	long := 0
	for f := range dim {
		if m.postStart[f+1]-m.postStart[f] > shortPostings {
			long++
		}
	}
	m.placeAt = make([]int32, dim)
	m.placeRows = make([]uint8, long*n)
	at := int32(0)
	for f := range dim {
		lo, hi := m.postStart[f], m.postStart[f+1]
		if hi-lo <= shortPostings {
			m.placeAt[f] = -1
			continue
		}
		row := m.placeRows[int(at)*n:][:n]
		for k, c := range m.postByte[lo:hi] {
			row[c] = uint8(k)
		}
		m.placeAt[f] = at
		at++
	}
}

// matcherPostingsCap bounds the conditions one feature's postings hold.
const matcherPostingsCap = 1024

// NumConditions is the number of conditions the matcher was compiled from.
func (m *Matcher) NumConditions() int { return len(m.bias) }

// NumExamples is the number of examples of every condition together: the
// length MatchInput.Semantic must have.
func (m *Matcher) NumExamples() int { return m.exampleStart[len(m.exampleStart)-1] }

// postedCond is the condition of posting k.
func (m *Matcher) postedCond(k int32) int32 {
	switch {
	case m.postByte != nil:
		return int32(m.postByte[k])
	case m.postShort != nil:
		return int32(m.postShort[k])
	}
	return m.postCond[k]
}

// margins sets acc[c] to condition c's raw lexical margin for x.
func (m *Matcher) margins(x *matcherVec, acc []float64) {
	copy(acc, m.bias)
	if m.tinyRows != nil {
		m.tinyMargins(x, acc)
		return
	}
	if m.weightsAt != nil && cap(acc) >= smallMatcher {
		m.smallMargins(x.e, (*[smallMatcher]float64)(acc[:smallMatcher]))
		return
	}
	if room := roomForMargins(len(acc)); cap(acc) >= room {
		switch {
		case m.postShort != nil:
			addMasked(m.postStart, m.postShort, m.postW, x, acc[:room])
		case m.postCond != nil:
			addMasked(m.postStart, m.postCond, m.postW, x, acc[:room])
		default:
			addMasked(m.postStart, m.postByte, m.postW, x, acc[:room])
		}
		return
	}
	switch {
	case m.postShort != nil:
		addPostings(m.postStart, m.postShort, m.postW, x, acc)
	case m.postCond != nil:
		addPostings(m.postStart, m.postCond, m.postW, x, acc)
	default:
		addPostings(m.postStart, m.postByte, m.postW, x, acc)
	}
}

// roomForMargins is the length of margins' array for n conditions that
// lets it read them through addMasked: the least power of two holding n.
func roomForMargins(n int) int {
	room := 1
	for room < n {
		room *= 2
	}
	return room
}

// newMargins is room for n conditions' margins that margins reads by its
// fastest loop for the matcher's size (see smallMargins, addMasked).
func newMargins(n int) []float64 {
	return make([]float64, n, max(roomForMargins(n), smallMatcher))
}

// addPostings is margins' general loop, over postings naming their
// conditions in posted.
func addPostings[C postedCondition](start []int32, posted []C, w []float32, x *matcherVec, acc []float64) {
	for _, e := range x.e {
		v := float64(e.v)
		lo, hi := start[e.id], start[e.id+1]
		conds, ws := posted[lo:hi], w[lo:hi]
		ws = ws[:len(conds)] // one bounds check for the loop's
		for k, c := range conds {
			acc[c] += float64(v * float64(ws[k]))
		}
	}
}

// addMasked is addPostings for margins in an array whose length is a
// power of two above every condition (see roomForMargins), which lets
// each condition be masked into it rather than checked against it: a
// posting of a large matcher costs two thirds of the instructions, read
// eight at a time as smallMargins once read them. Every condition is below
// the length, so masking changes none, and each margin gets the same
// products added in the same order.
//
// It takes the features a block of marginsBlock at a time, and reads
// where each one's postings are, and its first posting, for the whole
// block before adding any: a feature of a large matcher has hundreds of
// postings, whose adding kept the next feature's reads out of the CPU's
// reach until it was done, so each list's first lines came from memory
// one after another. Read together, they are on their way at once, and
// the CPU's prefetcher follows each list from its first line. At ten
// thousand rules, scoring a message cost 11 to 13 % less with the caches
// cold (BenchmarkScoreMessageCold) and 6 to 7 % less warm, where the
// matcher's postings do not fit the cache either.
func addMasked[C postedCondition](start []int32, posted []C, w []float32, x *matcherVec, acc []float64) {
	mask := len(acc) - 1
	if mask < 0 {
		return
	}
	var lists [marginsBlock]postingList[C]
	for es := x.e; len(es) > 0; es = es[min(len(es), marginsBlock):] {
		block := es[:min(len(es), marginsBlock)]
		found := lists[:len(block)]
		for i, e := range block {
			lo, hi := start[e.id], start[e.id+1]
			found[i] = postingList[C]{lo: lo, hi: hi}
			if lo < hi {
				found[i].cond, found[i].w = posted[lo], w[lo]
			}
		}
		for i, e := range block {
			l := &found[i]
			if l.lo == l.hi {
				continue
			}
			v := float64(e.v)
			acc[int(l.cond)&mask] += float64(v * float64(l.w))
			conds, ws := posted[l.lo+1:l.hi], w[l.lo+1:l.hi]
			ws = ws[:len(conds)] // one bounds check for the loop's
			k := 0
			for ; k < len(conds)-7; k += 8 { // bounded as in addSmallPostings
				acc[int(conds[k])&mask] += float64(v * float64(ws[k]))
				acc[int(conds[k+1])&mask] += float64(v * float64(ws[k+1]))
				acc[int(conds[k+2])&mask] += float64(v * float64(ws[k+2]))
				acc[int(conds[k+3])&mask] += float64(v * float64(ws[k+3]))
				acc[int(conds[k+4])&mask] += float64(v * float64(ws[k+4]))
				acc[int(conds[k+5])&mask] += float64(v * float64(ws[k+5]))
				acc[int(conds[k+6])&mask] += float64(v * float64(ws[k+6]))
				acc[int(conds[k+7])&mask] += float64(v * float64(ws[k+7]))
			}
			for ; k < len(conds); k++ {
				acc[int(conds[k])&mask] += float64(v * float64(ws[k]))
			}
		}
	}
}

// postingList is where addMasked finds a feature's postings,
// posted[lo:hi] and w[lo:hi], with the first of them, read beforehand.
type postingList[C postedCondition] struct {
	lo, hi int32
	cond   C
	w      float32
}

// smallMatcher is the most conditions smallMargins takes.
const smallMatcher = 256

// addSmallPostings is smallMargins' loop over features without a dense
// row, for a matcher of at most smallMatcher conditions, whose margins
// fit an array a byte indexes: with no bounds to check and the postings
// read sixteen at a time, a posting costs about seven instructions, half
// of the general loop's; a policy's matcher of a hundred rules and every
// step's matcher are this small. A feature's postings name each
// condition once, so each margin still gets the same products (a float32
// by a float32, exact in float64) added in the same order. It adds the
// features es, in order, whose weights refs[i] finds (see weightsRef).
func (m *Matcher) addSmallPostings(es []matcherEntry, refs []weightsRef, acc *[smallMatcher]float64) {
	_ = acc[0] // nil-checked once, not per posting
	posted, w := m.postByte, m.postW
	refs = refs[:len(es)] // one bounds check for the loop's
	for i, e := range es {
		v := float64(e.v)
		lo, hi := refs[i].at, refs[i].at+refs[i].n
		conds, ws := posted[lo:hi], w[lo:hi]
		ws = ws[:len(conds)] // one bounds check for the loop's
		k := 0
		// Bounded so, the compiler sees every index in range. Sixteen
		// at a time: a feature of a hundred rules' matcher has some sixty
		// postings, and the loop's own count, compare and jump were a
		// tenth of the instructions eight at a time.
		for ; k < len(conds)-15; k += 16 {
			acc[conds[k]] += float64(v * float64(ws[k]))
			acc[conds[k+1]] += float64(v * float64(ws[k+1]))
			acc[conds[k+2]] += float64(v * float64(ws[k+2]))
			acc[conds[k+3]] += float64(v * float64(ws[k+3]))
			acc[conds[k+4]] += float64(v * float64(ws[k+4]))
			acc[conds[k+5]] += float64(v * float64(ws[k+5]))
			acc[conds[k+6]] += float64(v * float64(ws[k+6]))
			acc[conds[k+7]] += float64(v * float64(ws[k+7]))
			acc[conds[k+8]] += float64(v * float64(ws[k+8]))
			acc[conds[k+9]] += float64(v * float64(ws[k+9]))
			acc[conds[k+10]] += float64(v * float64(ws[k+10]))
			acc[conds[k+11]] += float64(v * float64(ws[k+11]))
			acc[conds[k+12]] += float64(v * float64(ws[k+12]))
			acc[conds[k+13]] += float64(v * float64(ws[k+13]))
			acc[conds[k+14]] += float64(v * float64(ws[k+14]))
			acc[conds[k+15]] += float64(v * float64(ws[k+15]))
		}
		if k < len(conds)-7 {
			acc[conds[k]] += float64(v * float64(ws[k]))
			acc[conds[k+1]] += float64(v * float64(ws[k+1]))
			acc[conds[k+2]] += float64(v * float64(ws[k+2]))
			acc[conds[k+3]] += float64(v * float64(ws[k+3]))
			acc[conds[k+4]] += float64(v * float64(ws[k+4]))
			acc[conds[k+5]] += float64(v * float64(ws[k+5]))
			acc[conds[k+6]] += float64(v * float64(ws[k+6]))
			acc[conds[k+7]] += float64(v * float64(ws[k+7]))
			k += 8
		}
		if k < len(conds)-3 {
			acc[conds[k]] += float64(v * float64(ws[k]))
			acc[conds[k+1]] += float64(v * float64(ws[k+1]))
			acc[conds[k+2]] += float64(v * float64(ws[k+2]))
			acc[conds[k+3]] += float64(v * float64(ws[k+3]))
			k += 4
		}
		for ; k < len(conds); k++ {
			acc[conds[k]] += float64(v * float64(ws[k]))
		}
	}
}

// tinyMatcher is the most conditions tinyMargins takes: a step's
// transitions, its exit and staying are usually this few.
const tinyMatcher = 4

// tinyMargins is margins' loop for a matcher of at most tinyMatcher
// conditions, which reads each feature's weights as one row of
// tinyMatcher (0 where the condition has none) and keeps the margins in
// registers: a feature costs a dozen instructions instead of the dozens
// finding its postings did. A condition the feature has no weight for
// gets +0 added, which changes no margin that is not -0; a margin starts
// at its bias, which indexTiny checks is not -0, and a sum that is not
// -0 never becomes -0 by adding a weight that is not 0.
func (m *Matcher) tinyMargins(x *matcherVec, acc []float64) {
	var a0, a1, a2, a3 float64
	switch len(acc) {
	case 4:
		a3 = acc[3]
		fallthrough
	case 3:
		a2 = acc[2]
		fallthrough
	case 2:
		a1 = acc[1]
		fallthrough
	case 1:
		a0 = acc[0]
	}
	rows := m.tinyRows
	for _, e := range x.e {
		v, r := float64(e.v), &rows[e.id]
		a0 += float64(v * r[0])
		a1 += float64(v * r[1])
		a2 += float64(v * r[2])
		a3 += float64(v * r[3])
	}
	switch len(acc) {
	case 4:
		acc[3] = a3
		fallthrough
	case 3:
		acc[2] = a2
		fallthrough
	case 2:
		acc[1] = a1
		fallthrough
	case 1:
		acc[0] = a0
	}
}

// indexTiny sets tinyRows from the postings, for a matcher of at most
// tinyMatcher conditions none of whose biases is -0 (others keep none).
func (m *Matcher) indexTiny() {
	if len(m.bias) > tinyMatcher || slices.ContainsFunc(m.bias, func(b float64) bool { return b == 0 && math.Signbit(b) }) {
		return
	}
	dim := len(m.postStart) - 1
	m.tinyRows = make([][tinyMatcher]float64, dim)
	for f := range dim {
		for k := m.postStart[f]; k < m.postStart[f+1]; k++ {
			m.tinyRows[f][m.postedCond(k)] = float64(m.postW[k])
		}
	}
}

// shortMatcher is the most conditions postShort names.
const shortMatcher = 1 << 16

// postedCondition is how postings name a condition: the narrowest type
// that holds the matcher's.
type postedCondition interface{ uint8 | uint16 | int32 }

// indexSmall sets postByte or postShort from postCond, which it drops,
// for a matcher of at most shortMatcher conditions (others keep
// postCond).
func (m *Matcher) indexSmall() {
	switch n := len(m.bias); {
	case n <= smallMatcher:
		m.postByte = narrowConds[uint8](m.postCond)
	case n <= shortMatcher:
		m.postShort = narrowConds[uint16](m.postCond)
	default:
		return
	}
	m.postCond = nil
}

// narrowConds is conds, each of which C holds, as C.
func narrowConds[C uint8 | uint16](conds []int32) []C {
	out := make([]C, len(conds))
	for k, c := range conds {
		out[k] = C(c)
	}
	return out
}

// lead is condition c's margin minus the best other condition's.
func lead(acc []float64, c, first, second int) float64 {
	if c == first {
		return acc[c] - acc[second]
	}
	return acc[c] - acc[first]
}

// emptyMessageLogits is each condition's lexical log-odds for a message
// without a single known feature.
func (m *Matcher) emptyMessageLogits() []float64 {
	first, second := topTwo(m.bias)
	out := make([]float64, len(m.bias))
	for c, b := range m.bias {
		out[c] = m.cal.logit([calibrationFeatures]float64{b, lead(m.bias, c, first, second)})
	}
	return out
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + exp(-x))
	}
	e := exp(x)
	return e / (1 + e)
}

// logit is σ⁻¹, with p kept off 0 and 1 so that it stays finite.
func logit(p float64) float64 {
	p = min(max(p, 1e-6), 1-1e-6)
	return log(p / (1 - p))
}
