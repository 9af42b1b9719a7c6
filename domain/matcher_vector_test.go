package domain

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"
)

// referenceMessageVector is messageVector as plainly as it can be
// written: each block's features sorted stably by hash, weighed by
// vector (the context's path, which shares none of readMessageTextIn's
// sorting, runs or lookups), each entry's words the distinct origins of
// its feature, ascending.
func referenceMessageVector(v *matcherVocab, text string, scope int) messageVec {
	words := matcherWords(text, scope)
	f := extractFeatures(words)
	var q messageVec
	blocks := [2][]uint64{f.words, f.chars}
	origins := [2][]int32{f.origin[:len(f.words)], f.origin[len(f.words):]}
	for b := range blocks {
		occ := make([]occurrence, len(blocks[b]))
		for i, h := range blocks[b] {
			occ[i] = occurrence{h, origins[b][i]}
		}
		slices.SortStableFunc(occ, func(x, y occurrence) int { return cmp.Compare(x.h, y.h) })
		hs := make([]uint64, len(occ))
		for i := range occ {
			hs[i] = occ[i].h
		}
		block := v.vector(matcherFeatures{words: hs}, nil)
		q.e = append(q.e, block.e...)
		for i := 0; i < len(occ); {
			j := i
			lo := int32(len(q.origins))
			for ; j < len(occ) && occ[j].h == occ[i].h; j++ {
				if j == i || occ[j].origin != occ[j-1].origin {
					q.origins = append(q.origins, occ[j].origin)
				}
			}
			if _, _, ok := v.ids.lookup(occ[i].h); ok {
				q.spans = append(q.spans, originSpan{lo, int32(len(q.origins))})
			}
			i = j
		}
		if b == 0 {
			q.nWords = len(q.e)
		}
	}
	return q
}

// rulesPolicyConditions is the conditions of rulesPolicy's n rules, as
// a policy's matcher is compiled of them.
func rulesPolicyConditions(conds []MatcherCondition, n int) []MatcherCondition {
	out := make([]MatcherCondition, n)
	for i, r := range rulesPolicy(conds, n).Rules {
		out[i] = MatcherCondition{Examples: append([]string{r.Condition}, r.Examples...)}
	}
	return out
}

// BenchmarkMessageVectorCold is a message's vector against 100 rules'
// vocabulary with the caches first filled with other data, as a server's
// turn finds them after the rest of its work: what it measures is mostly
// the feature table's reads from memory, which instruction counts miss.
func BenchmarkMessageVectorCold(b *testing.B) {
	b77, _ := banking77Conditions(readBanking77(b, "train.csv"), 40)
	m, err := CompileMatcher(rulesPolicyConditions(b77, 100), MatcherOptions{})
	if err != nil {
		b.Fatal(err)
	}
	test := readBanking77(b, "test.csv")
	texts := make([]*messageText, 64)
	for i := range texts {
		texts[i] = readMessageText(test[i*37%len(test)].text, m.tuning.negationScope)
	}
	other := make([]byte, 16<<20)
	var vb vecBuffer
	var spent []time.Duration
	i := 0
	for b.Loop() {
		for k := 0; k < len(other); k += 64 {
			other[k]++
		}
		start := time.Now()
		m.vocab.messageVector(texts[i%len(texts)], &vb)
		spent = append(spent, time.Since(start))
		i++
	}
	// Timed alone, the median of the calls: filling the caches takes a
	// thousand times as long, stopping the benchmark's timer around it
	// reads memory statistics, and on a shared machine a mean is mostly
	// the calls another process interrupted.
	slices.Sort(spent)
	b.ReportMetric(float64(spent[len(spent)/2].Nanoseconds()), "median-ns/vector")
}

// BenchmarkReadMessageText is reading a Banking77 test message for
// matching (readMessageTextIn) in a turn's pooled arrays: its words,
// their features, sorted and grouped into runs. It does not depend on the
// matcher, and a turn does it once.
func BenchmarkReadMessageText(b *testing.B) {
	test := readBanking77(b, "test.csv")
	bufs := new(messageBuffers)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		readMessageTextIn(test[(i*37)%len(test)].text, defaultMatcherTuning.negationScope, bufs)
		i++
	}
}

// A message's runs must have the term frequency of their count however
// long they are: appendRuns reads it from termFrequency's table, and
// leaves one past the table to longRuns.
func TestMessageVectorLongRuns(t *testing.T) {
	m, err := CompileMatcher([]MatcherCondition{
		{Examples: []string{"my card has not arrived", "where is my card"}},
		{Examples: []string{"cancel my transfer", "I want a refund"}},
	}, MatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bufs := new(messageBuffers)
	var vb vecBuffer
	for n := 1; n <= 2*len(smallTermFrequencies)+2; n++ {
		for _, text := range []string{
			strings.Repeat("card ", n),
			"where is " + strings.Repeat("my card ", n) + "refund",
			strings.Repeat("cards carded ", n) + strings.Repeat("not card ", n),
		} {
			want := referenceMessageVector(m.vocab, text, m.tuning.negationScope)
			mt := readMessageTextIn(text, m.tuning.negationScope, bufs)
			got := m.vocab.messageVector(mt, &vb)
			requireSameSum(t, got, want, text)
			for k, s := range want.spans {
				if !slices.Equal(got.origins[got.spans[k].lo:got.spans[k].hi], want.origins[s.lo:s.hi]) {
					t.Fatalf("%q: entry %d's words are %v, want %v", text, k,
						got.origins[got.spans[k].lo:got.spans[k].hi], want.origins[s.lo:s.hi])
				}
			}
			for b, runs := range mt.runs {
				if len(runs) > 0 && runs[0].tf == 0 || len(runs) > 1 && runs[len(runs)-1].tf == 0 {
					t.Fatalf("%q: block %d has a run without its term frequency", text, b)
				}
			}
		}
	}
}
