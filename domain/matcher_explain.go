package domain

import (
	"cmp"
	"math"
	"slices"
)

// explain fills in the example most like the message and the message's
// words that weigh most for the condition.
func (m *Matcher) explain(cs *ConditionScore, words []matcherWord, feats matcherFeatures, q *matcherVec, sem *semanticEvidence) {
	c := cs.Condition
	if sem != nil && cs.Semantic >= cs.Lexical && sem.at[c] >= 0 {
		cs.Example = sem.at[c]
	} else {
		cs.Example = m.nearestExample(c, q)
	}
	cs.Terms = m.topTerms(c, words, feats, q)
}

// nearestExample is the index within condition c of the example sharing
// the most word weight with q (cosine over word features), -1 if none
// shares a word.
func (m *Matcher) nearestExample(c int, q *matcherVec) int {
	qw := slices.Clone(q.e[:q.nWords])
	slices.SortFunc(qw, func(a, b matcherEntry) int { return cmp.Compare(a.id, b.id) })
	best, at := 0.0, -1
	for j, ex := range m.exampleWords[m.exampleStart[c]:m.exampleStart[c+1]] {
		var d float64
		for a, b := 0, 0; a < len(qw) && b < len(ex); {
			switch {
			case qw[a].id < ex[b].id:
				a++
			case qw[a].id > ex[b].id:
				b++
			default:
				d += float64(qw[a].v) * float64(ex[b].v)
				a++
				b++
			}
		}
		if d > best {
			best, at = d, j
		}
	}
	return at
}

// weightOf is condition c's weight for feature id (0 when pruned).
func (m *Matcher) weightOf(c int, id int32) float64 {
	lo, hi := m.postStart[id], m.postStart[id+1]
	conds := m.postCond[lo:hi]
	if k, ok := slices.BinarySearch(conds, int32(c)); ok {
		return float64(m.postW[int(lo)+k])
	}
	return 0
}

// topTerms credits each feature's share of condition c's margin to the
// words it came from and returns the (up to) three words credited most,
// "not " before a negated one.
func (m *Matcher) topTerms(c int, words []matcherWord, feats matcherFeatures, q *matcherVec) []string {
	value := make(map[int32]float64, len(q.e))
	for _, e := range q.e {
		value[e.id] = float64(e.v)
	}
	credit := make([]float64, len(words))
	all := append(slices.Clone(feats.words), feats.chars...)
	count := map[uint64]int{}
	for _, h := range all {
		count[h]++
	}
	for k, h := range all {
		id, ok := m.vocab.ids[h]
		if !ok {
			continue
		}
		credit[feats.origin[k]] += value[id] / float64(count[h]) * m.weightOf(c, id)
	}
	order := make([]int, len(words))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(credit[b], credit[a]) })
	var out []string
	for _, i := range order {
		if len(out) == 3 || credit[i] <= 0 || math.IsNaN(credit[i]) {
			break
		}
		t := words[i].stem
		if words[i].negated {
			t = "not " + t
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
