package domain

import (
	"cmp"
	"slices"
)

// matcherExplained is how many of the best results carry Example and Terms.
const matcherExplained = 3

// explain fills in, for the first results, the example most like the
// message and the message's words that weigh most for the condition. One
// pass over the message's postings credits each feature's contribution to
// the words it came from.
func (m *Matcher) explain(out []ConditionScore, words []matcherWord, q *messageVec, sem *semanticEvidence, dense []float32) {
	out = out[:min(matcherExplained, len(out))]
	credit := make([][]float64, len(out))
	for k := range out {
		credit[k] = make([]float64, len(words))
	}
	for j, e := range q.e {
		origins := q.origins[q.originAt[j]:q.originAt[j+1]]
		if len(origins) == 0 {
			continue
		}
		share := float64(e.v) / float64(len(origins))
		for k := range out {
			w := m.weightOf(out[k].Condition, e.id)
			for _, o := range origins {
				credit[k][o] += share * w
			}
		}
	}
	for _, e := range q.e[:q.nWords] {
		dense[e.id] = e.v
	}
	for k := range out {
		cs := &out[k]
		c := cs.Condition
		if sem != nil && cs.Semantic >= cs.Lexical && sem.at[c] >= 0 {
			cs.Example = sem.at[c]
		} else {
			cs.Example = m.nearestExample(c, dense)
		}
		cs.Terms = topTerms(words, credit[k])
	}
	for _, e := range q.e[:q.nWords] {
		dense[e.id] = 0
	}
}

// weightOf is condition c's weight for feature id (0 when pruned).
func (m *Matcher) weightOf(c int, id int32) float64 {
	lo, hi := m.postStart[id], m.postStart[id+1]
	if k, ok := slices.BinarySearch(m.postCond[lo:hi], int32(c)); ok {
		return float64(m.postW[int(lo)+k])
	}
	return 0
}

// topTerms is the (up to) three words with the most credit, "not " before
// a negated one.
func topTerms(words []matcherWord, credit []float64) []string {
	order := make([]int, len(words))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(credit[b], credit[a]) })
	var out []string
	for _, i := range order {
		if len(out) == 3 || !(credit[i] > 0) {
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

// nearestExample is the index within condition c of the example sharing
// the most word weight with the message, whose word features are set in
// dense (cosine over word features); -1 if none shares a word.
func (m *Matcher) nearestExample(c int, dense []float32) int {
	best, at := 0.0, -1
	for j, ex := range m.exampleWords[m.exampleStart[c]:m.exampleStart[c+1]] {
		var d float64
		for _, e := range ex {
			d += float64(dense[e.id]) * float64(e.v)
		}
		if d > best {
			best, at = d, j
		}
	}
	return at
}
