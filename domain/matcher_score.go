package domain

import (
	"cmp"
	"math"
	"slices"
)

// MatchInput is one message to score.
type MatchInput struct {
	Text string
	// Context is what the agent last asked (the current step's question,
	// the previous reply), optional. Short replies ("yes", "the second
	// one", "it's 123456") are scored with it mixed in, the shorter the
	// reply the more.
	Context string
	// Semantic, optional: cosine similarity (-1..1) of the message to every
	// example of every condition, flattened in condition order then example
	// order (len == NumExamples()); NaN marks a similarity not computed
	// (say, outside an approximate index's neighbours). nil without an
	// embedder; a slice of another length is ignored.
	Semantic []float64
}

// ConditionScore is one condition's calibrated score for a message, with
// what explains it. Several conditions may score high for one message.
type ConditionScore struct {
	Condition int // index into the compiled conditions
	// Score is the calibrated probability that the condition applies,
	// 0..1: the lexical one alone, or with Semantic the two signals'
	// log-odds added beyond what the lexical signal says of a message it
	// knows nothing about (naive Bayes).
	Score    float64
	Lexical  float64 // the lexical signal's calibrated probability, 0..1
	Semantic float64 // the semantic signal's, 0..1 (0 without)
	// Margin is the lexical model's raw log-odds before calibration. The
	// calibration reads it and the lead over the best other condition of
	// the whole policy, so a condition another one clearly outscores
	// scores lower whatever the candidates.
	Margin float64
	// Example is the index within the condition of the example most like
	// the message (-1 if none): the most similar by embedding when the
	// semantic signal decided, otherwise by shared words.
	Example int
	// Terms are up to three of the message's words (normalised) that
	// raised the condition's lexical score most.
	Terms []string
}

// matcherContextWords is the reply length (in words) from which Context no
// longer counts.
const matcherContextWords = 6

// Score scores the message against candidates (indexes into the compiled
// conditions, others ignored; nil means all) and returns them best first,
// ties by margin then index. With nil, only conditions scoring at least
// the ReportFloor option are returned, at most MaxResults of them. The
// first three results carry Example and Terms. The lexical cost grows with
// the postings of the message's features (each capped), not with the
// number of conditions; the semantic signal reads Semantic once.
func (m *Matcher) Score(in MatchInput, candidates []int) []ConditionScore {
	return m.scoreOnce(readMessageText(in.Text, m.tuning.negationScope), in, candidates)
}

// readMessage is what scoring read of a message: enough to explain more of
// its results later without reading it again.
type readMessage struct {
	words []matcherWord
	q     messageVec
	sem   *semanticEvidence
}

// score is Score, also returning what it read of the message.
func (m *Matcher) score(in MatchInput, candidates []int) ([]ConditionScore, readMessage) {
	return m.scoreText(readMessageText(in.Text, m.tuning.negationScope), in, candidates)
}

// scoreText is score with in.Text already read, as text.
func (m *Matcher) scoreText(text *messageText, in MatchInput, candidates []int) ([]ConditionScore, readMessage) {
	return m.scoreIn(text, in, candidates, keepRead|withTerms)
}

// keptArrays are where scoreWith builds what it returns and keeps: the
// message's vector and the results.
type keptArrays struct {
	vec    vecBuffer
	scores []ConditionScore
}

// results is room for n results: kept's array, grown as needed, or a new
// one when k is nil.
func (k *keptArrays) results(n int) []ConditionScore {
	if k == nil {
		return make([]ConditionScore, n)
	}
	if cap(k.scores) < n {
		k.scores = make([]ConditionScore, n)
	}
	return k.scores[:n]
}

// clear empties the arrays of everything they held.
func (k *keptArrays) clear() { clear(k.scores[:cap(k.scores)]) }

// scoreTextIn is scoreText with the results and the message's vector in
// kept's arrays (grown as needed), which the caller keeps as long as what
// it returns, and opts (skipExplain) added to scoreText's.
func (m *Matcher) scoreTextIn(text *messageText, in MatchInput, candidates []int, kept *keptArrays, opts scoreOptions) ([]ConditionScore, readMessage) {
	return m.scoreWith(text, in, candidates, keepRead|withTerms|opts, kept)
}

// scoreOnce is scoreText for a caller that will explain no more of the
// results: the message's vector is built in the scoring scratch rather
// than allocated, as a step's scores and Score need.
func (m *Matcher) scoreOnce(text *messageText, in MatchInput, candidates []int) []ConditionScore {
	out, _ := m.scoreIn(text, in, candidates, withTerms)
	return out
}

// scoreOptions say what scoreIn does beyond scoring.
type scoreOptions uint8

const (
	// keepRead returns what scoring read of the message, to explain more
	// of the results later.
	keepRead scoreOptions = 1 << iota
	// withTerms sets the Terms of the results explained; without it they
	// stay nil (a step's scores, whose terms nothing reads).
	withTerms
	// skipExplain leaves every result's Example -1 and Terms nil: a
	// turn whose explanation is completed when its record is read.
	skipExplain
)

// scoreIn is scoreText, returning what it read of the message with
// keepRead (and nothing otherwise).
func (m *Matcher) scoreIn(text *messageText, in MatchInput, candidates []int, opts scoreOptions) ([]ConditionScore, readMessage) {
	return m.scoreWith(text, in, candidates, opts, nil)
}

// scoreWith is scoreIn, building the results, and a message vector it
// keeps (keepRead), in kept's arrays, or in arrays of their own when kept
// is nil.
func (m *Matcher) scoreWith(text *messageText, in MatchInput, candidates []int, opts scoreOptions, kept *keptArrays) ([]ConditionScore, readMessage) {
	scratch := m.scratch.Get().(*scoreScratch)
	defer m.scratch.Put(scratch)
	keep := opts&keepRead != 0
	buf, cbuf := &scratch.vec, &scratch.context
	if keep {
		buf, cbuf = nil, nil
		if kept != nil {
			buf = &kept.vec
		}
	}
	words, q := m.message(text, in.Context, buf, cbuf)
	acc := scratch.margins
	m.margins(&q.matcherVec, acc)
	first, second := topTwo(acc)
	sem := m.semanticEvidence(in.Semantic)

	chosen := m.choose(scratch, acc, first, second, sem, candidates)
	keys := m.rank(scratch, acc, first, second, sem, chosen)
	out := kept.results(len(keys))
	for i, r := range keys {
		cs := ConditionScore{Condition: r.cond, Score: r.score, Lexical: r.lexical, Margin: r.margin, Example: -1}
		if sem != nil {
			cs.Semantic = sigmoid(sem.logit(r.cond))
		}
		out[i] = cs
	}
	if opts&skipExplain == 0 {
		m.explain(out, words, &q, sem, scratch, opts&withTerms != 0)
	}
	if !keep {
		return out, readMessage{}
	}
	return out, readMessage{words: words, q: q, sem: sem}
}

// rank is the chosen conditions' results as scoreWith returns them,
// ranked, given the margins acc (first and second the best two); the
// list is the scratch's.
func (m *Matcher) rank(scratch *scoreScratch, acc []float64, first, second int, sem *semanticEvidence, chosen []int) []rankedResult {
	// Scores are compared as log-odds: the lexical one is linear in the
	// margin and lead, the combination with the semantic one is a sum
	// (naive Bayes: each signal's log-odds beyond what the lexical signal
	// says of a message it knows nothing about), so ranking needs no
	// exponential until the results are known.
	lexLogit := func(c int) float64 {
		return m.cal.logit([calibrationFeatures]float64{acc[c], lead(acc, c, first, second)})
	}
	// Ranked by small keys, then written out in order: sorting the
	// results themselves moved ten words a swap. The best conditions come
	// as bestLexical's heap left them, whose root is the worst: read from
	// the end, they are nearly in order already, and sortRanked, whose
	// order does not depend on the order it is given, moves far fewer.
	keys := scratch.ranked[:0]
	for i := len(chosen) - 1; i >= 0; i-- {
		c := chosen[i]
		z := lexLogit(c)
		r := rankedResult{lexical: sigmoid(z), margin: acc[c], cond: c}
		r.score = r.lexical
		if sem != nil {
			r.score = sigmoid(z + sem.logit(c) - m.priorLogit[c])
		}
		keys = append(keys, r)
	}
	scratch.ranked = keys
	sortRanked(keys)
	return keys
}

// rankedResult is a result of scoreIn as it is ranked: best score first,
// then the larger margin, then the lower condition.
type rankedResult struct {
	score, margin, lexical float64
	cond                   int
}

// sortRanked sorts results by byScore. The few dozen results of a
// message without a NaN among their scores and margins are sorted by
// insertion, comparing as byScore does but with no call and no NaN to
// look for: a third of slices.SortFunc's instructions. Any two results
// byScore finds equal are the same (a condition asked for twice), so
// the order is slices.SortFunc's.
func sortRanked(keys []rankedResult) {
	if len(keys) > maxInsertionRanked || slices.ContainsFunc(keys, func(r rankedResult) bool {
		return math.IsNaN(r.score) || math.IsNaN(r.margin)
	}) {
		slices.SortFunc(keys, byScore)
		return
	}
	for i := 1; i < len(keys); i++ {
		r := keys[i]
		j := i
		for ; j > 0 && rankedBefore(r, &keys[j-1]); j-- {
			keys[j] = keys[j-1]
		}
		keys[j] = r
	}
}

// maxInsertionRanked is the most results sortRanked sorts by insertion.
const maxInsertionRanked = 64

// rankedBefore is byScore(a, *b) < 0 for scores and margins that are not
// NaN.
func rankedBefore(a rankedResult, b *rankedResult) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if a.margin != b.margin {
		return a.margin > b.margin
	}
	return a.cond < b.cond
}

func byScore(a, b rankedResult) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	if c := cmp.Compare(b.margin, a.margin); c != 0 {
		return c
	}
	return cmp.Compare(a.cond, b.cond)
}

// choose is which conditions scoreIn returns, given their margins acc
// (first and second the best two): the candidates that are conditions,
// or with nil the best scoring at least the floor, up to the most results.
// The list is the scratch's.
func (m *Matcher) choose(scratch *scoreScratch, acc []float64, first, second int, sem *semanticEvidence, candidates []int) []int {
	chosen := scratch.chosen[:0]
	if candidates != nil {
		for _, c := range candidates {
			if c >= 0 && c < len(acc) {
				chosen = append(chosen, c)
			}
		}
		scratch.chosen = chosen
		return chosen
	}
	if sem == nil && m.linearLexical() {
		scratch.heap = m.bestLexical(scratch.heap[:0], acc, first, second)
	} else {
		z := scratch.logOdds
		for c := range z {
			z[c] = m.cal.logit([calibrationFeatures]float64{acc[c], lead(acc, c, first, second)})
			if sem != nil {
				z[c] += sem.logit(c) - m.priorLogit[c]
			}
		}
		scratch.heap = bestConditions(scratch.heap[:0], z, m.opts.MaxResults, logit(m.opts.ReportFloor))
	}
	for _, e := range scratch.heap {
		chosen = append(chosen, e.c)
	}
	scratch.chosen = chosen
	return chosen
}

// message is text's words and vector, context mixed in, the vector in
// buf's arrays unless buf is nil and the context's in cbuf's unless cbuf
// is nil. A text read with another matcher's negation scope is read again.
func (m *Matcher) message(text *messageText, context string, buf *vecBuffer, cbuf *contextBuffer) ([]matcherWord, messageVec) {
	if text.scope != m.tuning.negationScope {
		text = readMessageText(text.text, m.tuning.negationScope)
	}
	words := text.words
	q := m.vocab.messageVector(text, buf)
	if context != "" && len(words) < matcherContextWords { // readsContext
		ctx := m.contextVector(context, cbuf)
		q = addContext(q, ctx, 1.2*(1-float64(len(words))/matcherContextWords), cbuf)
	}
	return words, q
}

// readsContext reports whether message reads text with context.
func (m *Matcher) readsContext(text *messageText, context string) bool {
	if text.scope != m.tuning.negationScope {
		text = readMessageText(text.text, m.tuning.negationScope)
	}
	return context != "" && len(text.words) < matcherContextWords
}

// Bounds of a matcher's kept context vectors: how many, and the longest
// context kept, in bytes.
const (
	maxContexts      = 8
	maxContextLength = 1024
)

// contextVector is the vector of a short message's context, in cbuf's
// arrays unless cbuf is nil. A context the matcher read lately is not
// read again: its vector is kept, read-only, as the same reading makes it.
func (m *Matcher) contextVector(context string, cbuf *contextBuffer) matcherVec {
	if v, ok := m.contexts.Load(context); ok {
		return v.(matcherVec)
	}
	if len(context) > maxContextLength {
		var hashes *[]uint64
		var said []matcherWord
		if cbuf != nil {
			hashes = &cbuf.hashes
			said = appendMatcherWords(cbuf.words[:0], context, m.tuning.negationScope)
			cbuf.words = said
		} else {
			said = matcherWords(context, m.tuning.negationScope)
		}
		return m.vocab.vector(appendFeatures(hashes, said, false), cbuf)
	}
	// Kept: read into arrays of its own, sized to it.
	ctx := m.vocab.vector(appendFeatures(nil, matcherWords(context, m.tuning.negationScope), false), nil)
	if m.nContexts.Add(1) > maxContexts {
		// Contexts keep changing (replies naming the customer's values):
		// start again rather than grow.
		m.contexts.Clear()
		m.nContexts.Store(1)
	}
	m.contexts.Store(context, ctx)
	return ctx
}

// explainMore sets Example and Terms of scores, results of score for msg
// that it left unexplained (past its first three), as score would have set
// them. It reads only the message and these conditions: the cost does not
// grow with the number of conditions, as scoring them again would.
func (m *Matcher) explainMore(msg *readMessage, scores []ConditionScore) {
	scratch := m.scratch.Get().(*scoreScratch)
	defer m.scratch.Put(scratch)
	for start := 0; start < len(scores); start += matcherExplained {
		m.explain(scores[start:min(len(scores), start+matcherExplained)], msg.words, &msg.q, msg.sem, scratch, true)
	}
}

// scoreScratch is one Score call's buffers, kept between calls.
type scoreScratch struct {
	margins []float64      // one per condition
	logOdds []float64      // one per condition
	heap    []scored       // bestConditions'
	chosen  []int          // the conditions a call returns
	ranked  []rankedResult // the results, as they are ranked
	credit  []float64      // explain's, per result and word
	vec     vecBuffer      // the message's vector, when the caller keeps none of it
	context contextBuffer  // a short message's context and the vector with it, likewise
	near    []float64      // one per example of the largest condition
	byID    []matcherEntry // a message's word features by id
}

// bestConditions returns up to limit of the conditions whose log-odds
// (z, by condition) reach floor (in no particular order), with their
// log-odds, appended to h (empty; its array is reused). It keeps the best
// seen so far in a heap whose root is the worst of them (sifted here rather
// than through container/heap, whose interface boxed every push).
func bestConditions(h []scored, z []float64, limit int, floor float64) []scored {
	for c, zc := range z {
		if zc < floor {
			continue
		}
		h, _ = keepBest(h, scored{zc, c}, limit)
	}
	return h
}

// keepBest offers e to h, a min-heap of at most limit best results (the
// worst at the root), and says whether it was kept.
func keepBest(h []scored, e scored, limit int) ([]scored, bool) {
	switch {
	case len(h) < limit:
		h = append(h, e)
		siftUp(h, len(h)-1)
	case worseScored(h[0], e):
		h[0] = e
		siftDown(h, 0)
	default:
		return h, false
	}
	return h, true
}

// scored is a condition with its log-odds.
type scored struct {
	z float64
	c int
}

// worseScored orders by log-odds, then prefers the lower condition index.
func worseScored(a, b scored) bool { return a.z < b.z || (a.z == b.z && a.c > b.c) }

// siftUp and siftDown keep h a min-heap by worseScored.
func siftUp(h []scored, i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !worseScored(h[i], h[parent]) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func siftDown(h []scored, i int) {
	for {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && worseScored(h[l], h[least]) {
			least = l
		}
		if r < len(h) && worseScored(h[r], h[least]) {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}
