package domain

import "slices"

// matcherExplained is how many of the best results carry Example and Terms.
const matcherExplained = 3

// explain fills in, for the first results, the example most like the
// message and the message's words that weigh most for the condition. One
// pass over the message's postings credits each feature's contribution to
// the words it came from.
func (m *Matcher) explain(out []ConditionScore, words []matcherWord, q *messageVec, sem *semanticEvidence, dense []float32) {
	out = out[:min(matcherExplained, len(out))]
	// One buffer for every result's credits: explaining runs every turn.
	flat := make([]float64, len(out)*len(words))
	credit := func(k int) []float64 { return flat[k*len(words) : (k+1)*len(words)] }
	for j, e := range q.e {
		origins := q.origins[q.originAt[j]:q.originAt[j+1]]
		if len(origins) == 0 {
			continue
		}
		share := float64(e.v) / float64(len(origins))
		for k := range out {
			w := m.weightOf(out[k].Condition, e.id)
			ck := credit(k)
			for _, o := range origins {
				ck[o] += share * w
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
		cs.Terms = topTerms(words, credit(k))
	}
	for _, e := range q.e[:q.nWords] {
		dense[e.id] = 0
	}
}

// weightOf is condition c's weight for feature id (0 when pruned).
// The search is written out rather than slices.BinarySearch, whose generic
// form was a tenth of a turn's matching with many conditions.
func (m *Matcher) weightOf(c int, id int32) float64 {
	end := int(m.postStart[id+1])
	lo, hi, target := int(m.postStart[id]), end, int32(c)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.postCond[mid] < target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < end && m.postCond[lo] == target {
		return float64(m.postW[lo])
	}
	return 0
}

// topTerms is the (up to) three words with the most credit, "not " before
// a negated one.
func topTerms(words []matcherWord, credit []float64) []string {
	var out []string
	for i := nextByCredit(credit, -1); i >= 0 && len(out) < 3; i = nextByCredit(credit, i) {
		t := words[i].stem
		if words[i].negated {
			t = "not " + t
		}
		if out == nil {
			out = make([]string, 0, 3)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// nextByCredit is the word that follows prev (-1: the first) when words
// with positive credit are ordered by credit, highest first, then by
// position; -1 when none follows. Picking the few words topTerms keeps one
// by one costs less than sorting every word of the message for each
// result.
func nextByCredit(credit []float64, prev int) int {
	best := -1
	for i, c := range credit {
		if !(c > 0) || prev >= 0 && (c > credit[prev] || c == credit[prev] && i <= prev) {
			continue
		}
		if best < 0 || c > credit[best] {
			best = i
		}
	}
	return best
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
