package domain

import "slices"

// matcherExplained is how many of the best results carry Example and Terms.
const matcherExplained = 3

// explain fills in, for the first results, the example most like the
// message and, with terms, the message's words that weigh most for the
// condition (without, Terms stay nil).
func (m *Matcher) explain(out []ConditionScore, words []matcherWord, q *messageVec, sem *semanticEvidence, scratch *scoreScratch, terms bool) {
	out = out[:min(matcherExplained, len(out))]
	targets, nTargets := explainTargets(out)
	// The results whose example the words name, conditions ascending.
	var byWords [matcherExplained]explainTarget
	nb := 0
	for _, t := range targets[:nTargets] {
		cs := &out[t.k]
		if c := cs.Condition; sem != nil && cs.Semantic >= cs.Lexical && sem.at[c] >= 0 {
			cs.Example = sem.at[c]
		} else {
			byWords[nb] = t
			nb++
		}
	}
	if nb > 0 {
		byID := sortedByID(append(scratch.byID[:0], q.e[:q.nWords]...)) // the message's word features, ids ascending
		scratch.byID = byID
		m.nearestExamples(byWords[:nb], byID, scratch.near, out)
	}
	if terms {
		m.explainTerms(out, targets[:nTargets], words, q, scratch)
	}
}

// explainTerms sets the Terms of out, whose conditions ascending are
// targets. One pass over the message's postings credits each feature's
// contribution to the words it came from.
func (m *Matcher) explainTerms(out []ConditionScore, targets []explainTarget, words []matcherWord, q *messageVec, scratch *scoreScratch) {
	if len(targets) == 0 {
		return
	}
	// One buffer for every result's credits, kept between calls:
	// explaining runs every turn. It has one result's room more, for the
	// conditions past the targets, weighed but not credited.
	n := (len(out) + 1) * len(words)
	if cap(scratch.credit) < n {
		scratch.credit = make([]float64, n)
	}
	flat := scratch.credit[:n]
	clear(flat)
	// By target, in targets' order: credit[i] is targets[i]'s result's.
	var credit [matcherExplained][]float64
	var conds explainConds
	for i, t := range targets {
		credit[i] = flat[t.k*len(words) : (t.k+1)*len(words)]
		conds.c[i] = t.cond
	}
	conds.n = len(targets)
	for i := conds.n; i < len(conds.c); i++ {
		conds.c[i] = conds.c[conds.n-1] // weighed, not credited
		credit[i] = flat[len(out)*len(words):]
	}
	// Every feature adds to all three rows, with no test of the count or
	// of the weight: a weight of 0 adds +0 to credits that are never -0,
	// which changes none, and a row past the targets is thrown away. Each
	// credit still gets the same products added in feature order.
	c0, c1, c2 := credit[0], credit[1], credit[2]
	var ws [matcherExplained]float64
	for j, e := range q.e {
		sp := q.spans[j]
		origins := q.origins[sp.lo:sp.hi]
		if len(origins) == 0 {
			continue
		}
		share := float64(e.v) / float64(len(origins))
		m.weightsOf(e.id, &conds, &ws)
		x0, x1, x2 := float64(share*ws[0]), float64(share*ws[1]), float64(share*ws[2])
		for _, o := range origins {
			c0[o] += x0
			c1[o] += x1
			c2[o] += x2
		}
	}
	all := make([]string, 0, 3*len(out)) // every result's, one allocation
	for k := range out {
		out[k].Terms = topTerms(all[3*k:3*k:3*k+3], words, flat[k*len(words):(k+1)*len(words)])
	}
}

// explainConds are the conditions explainTerms credits, ascending: the
// first n of c; the rest repeat the last, so that weightsOf, reading
// places, can weigh all of c with no count to check.
type explainConds struct {
	c [matcherExplained]int32
	n int
}

// sortedByID sorts es by feature id (an insertion sort: a message has a
// few dozen word features) and returns it.
func sortedByID(es []matcherEntry) []matcherEntry {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].id < es[j-1].id; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
	return es
}

// explainTarget is a result explain credits: its condition and place.
type explainTarget struct {
	cond int32
	k    int
}

// explainTargets are out's conditions (at most matcherExplained),
// ascending, with their places: the first n of t.
func explainTargets(out []ConditionScore) (t [matcherExplained]explainTarget, n int) {
	for k := range out {
		t[k] = explainTarget{int32(out[k].Condition), k}
	}
	slices.SortFunc(t[:len(out)], func(a, b explainTarget) int { return int(a.cond - b.cond) })
	return t, len(out)
}

// weightsOf sets ws[i] to condition conds.c[i]'s weight for feature id
// (0 when pruned) for each of the conditions (ascending). A feature of a
// small matcher with a long postings list reads each condition's place in
// it from its row of placeRows; any other walks its postings (sorted
// by condition) once for all of them, each search starting where the last
// one ended, by steps over a short stretch and by halves over a long one.
// A feature of a step's matcher has a few postings, where searching each
// condition from scratch cost more than the steps.
func (m *Matcher) weightsOf(id int32, conds *explainConds, ws *[matcherExplained]float64) {
	lo, hi := m.postStart[id], m.postStart[id+1]
	w := m.postW[lo:hi]
	switch {
	case m.postShort != nil:
		postedWeights(m.postShort[lo:hi], w, conds, ws)
		return
	case m.postCond != nil:
		postedWeights(m.postCond[lo:hi], w, conds, ws)
		return
	}
	posted := m.postByte[lo:hi]
	if at := m.placeAt[id]; at >= 0 {
		// A condition the list lacks has place 0, where another is.
		n := len(m.bias)
		row := m.placeRows[int(at)*n:][:n]
		for i, c := range conds.c {
			k, x := int(row[c]), 0.0
			if k < len(posted) && int32(posted[k]) == c {
				x = float64(w[k])
			}
			ws[i] = x
		}
		return
	}
	postedWeights(posted, w, conds, ws)
}

// postedWeights is weightsOf for a feature whose postings name the
// conditions posted, with weights w: it walks them (sorted by condition)
// once for all of the conditions, each search starting where the last one
// ended.
func postedWeights[C postedCondition](posted []C, w []float32, conds *explainConds, ws *[matcherExplained]float64) {
	w = w[:len(posted)] // one bounds check for the reads below
	p := 0
	// Only the conditions credited: a search here may take halves of a
	// long list.
	for i, c := range conds.c[:conds.n] {
		p = findCondition(posted, p, C(c))
		x := 0.0
		if p < len(posted) && posted[p] == C(c) {
			x = float64(w[p])
		}
		ws[i] = x
	}
}

// findCondition is the place of the first condition at or after c in
// posted[p:] (ascending), by steps over a short stretch and by halves over
// a long one.
func findCondition[C postedCondition](posted []C, p int, c C) int {
	if len(posted)-p <= shortPostings {
		for p < len(posted) && posted[p] < c {
			p++
		}
		return p
	}
	lo, hi := p, len(posted)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if posted[mid] < c {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// topTerms is the (up to) three words with the most credit, "not " before
// a negated one, in out (empty, room for three) or nil when none has
// credit. A word repeated keeps its first place: ties go to the earlier
// word.
func topTerms(out []string, words []matcherWord, credit []float64) []string {
	var picked [3]matcherWord
	n := 0
	for ; n < len(picked); n++ {
		i := bestNewTerm(words, credit, picked[:n])
		if i < 0 {
			break
		}
		picked[n] = words[i]
		t := words[i].stem
		if words[i].negated {
			t = "not " + t
		}
		out = append(out, t)
	}
	if n == 0 {
		return nil
	}
	return out
}

// bestNewTerm is the word with the most positive credit, the earliest of
// equals, whose term (stem and negation) is none of picked's; -1 when no
// word is left. One pass over the message per term kept, so a message
// that says one word a thousand times costs three passes, not a pass per
// repetition.
func bestNewTerm(words []matcherWord, credit []float64, picked []matcherWord) int {
	best := -1
	for i, c := range credit {
		if !(c > 0) || best >= 0 && !(c > credit[best]) {
			continue
		}
		if !slices.ContainsFunc(picked, func(p matcherWord) bool { return p.stem == words[i].stem && p.negated == words[i].negated }) {
			best = i
		}
	}
	return best
}

// nearestExamples sets the Example of each target's result in out to
// the index within its condition of the example sharing the most word
// weight with the message, whose word features (ids ascending) are words
// (cosine over word features); -1 if none shares a word. The targets are
// ascending by condition. near is scratch, matcherExplained stretches of
// one per example of the largest condition. It reads only the examples
// holding one of the message's words, each word's list once for every
// target, and adds each example's products in ascending feature id, the
// order a pass over each example's words (ids ascending) added them.
func (m *Matcher) nearestExamples(targets []explainTarget, words []matcherEntry, near []float64, out []ConditionScore) {
	stretch := len(near) / matcherExplained
	var first, last [matcherExplained]int32
	var sums [matcherExplained][]float64
	for i, t := range targets {
		first[i], last[i] = int32(m.exampleStart[t.cond]), int32(m.exampleStart[t.cond+1])
		sums[i] = near[i*stretch : i*stretch+int(last[i]-first[i])]
		clear(sums[i])
	}
	for _, e := range words {
		list := m.examplesByWord.of(e.id)
		v := float64(e.v)
		k, from := 0, 0
		for i := range targets {
			// The condition's examples in the list, from where the previous
			// condition's ended, or began when it is the same condition (a
			// candidate given twice).
			if i > 0 && first[i] == first[i-1] {
				k = from
			}
			from = k
			k = firstExampleFrom(list, k, first[i])
			sum, f, l := sums[i], first[i], last[i]
			for ; k < len(list) && list[k].example < l; k++ {
				sum[list[k].example-f] += float64(v * float64(list[k].v))
			}
		}
	}
	for i, t := range targets {
		best, at := 0.0, -1
		for j, d := range sums[i] {
			if d > best {
				best, at = d, j
			}
		}
		out[t.k].Example = at
	}
}

// firstExampleFrom is the place of the first example at or after first
// in list[k:] (len(list) if none), by halves (written out: the generic
// search with a comparison function cost twice as much).
func firstExampleFrom(list []exampleWeight, k int, first int32) int {
	hi := len(list)
	for k < hi {
		mid := int(uint(k+hi) >> 1)
		if list[mid].example < first {
			k = mid + 1
		} else {
			hi = mid
		}
	}
	return k
}

// examplePostings are the training examples by word feature: the examples
// having feature f, ascending, with its weight in each, are
// list[start[f]:start[f+1]].
type examplePostings struct {
	start []int32
	list  []exampleWeight
}

// exampleWeight is an example's weight for one feature.
type exampleWeight struct {
	example int32
	v       float32
}

// newExamplePostings indexes the word features of xs, the examples in
// flat order, over dim features.
func newExamplePostings(xs []matcherVec, dim int) examplePostings {
	p := examplePostings{start: make([]int32, dim+1)}
	for i := range xs {
		for _, e := range xs[i].e[:xs[i].nWords] {
			p.start[e.id+1]++
		}
	}
	for f := 1; f <= dim; f++ {
		p.start[f] += p.start[f-1]
	}
	p.list = make([]exampleWeight, p.start[dim])
	fill := slices.Clone(p.start[:dim])
	for i := range xs {
		for _, e := range xs[i].e[:xs[i].nWords] {
			p.list[fill[e.id]] = exampleWeight{int32(i), e.v}
			fill[e.id]++
		}
	}
	return p
}

func (p *examplePostings) of(id int32) []exampleWeight { return p.list[p.start[id]:p.start[id+1]] }
