package domain

import (
	"math"
	"math/rand/v2"
	"testing"
)

// referenceAddContext is addContext as plainly as it can be written: each
// block of the reply's features, in order, each with the context's weight
// for it added, then the context's other features of the block, in order.
func referenceAddContext(msg messageVec, ctx matcherVec, weight float64) messageVec {
	out := messageVec{origins: msg.origins}
	block := func(a []matcherEntry, spans []originSpan, b []matcherEntry) {
		start := len(out.e)
		out.e = append(out.e, a...)
		out.spans = append(out.spans, spans[:len(a)]...)
		for _, e := range b {
			v := float32(weight * float64(e.v))
			found := false
			for k := start; k < start+len(a); k++ {
				if out.e[k].id == e.id {
					out.e[k].v += v
					found = true
				}
			}
			if !found {
				out.e = append(out.e, matcherEntry{e.id, v})
				out.spans = append(out.spans, originSpan{})
			}
		}
	}
	block(msg.e[:msg.nWords], msg.spans, ctx.e[:ctx.nWords])
	out.nWords = len(out.e)
	block(msg.e[msg.nWords:], msg.spans[msg.nWords:], ctx.e[ctx.nWords:])
	return out
}

// requireSameSum fails unless got is want to the bit: the same features
// in the same order with the same values and words.
func requireSameSum(t *testing.T, got, want messageVec, what string) {
	t.Helper()
	if got.nWords != want.nWords || len(got.e) != len(want.e) || len(got.spans) != len(want.spans) {
		t.Fatalf("%s: %d entries (%d words), %d spans; want %d (%d words), %d", what,
			len(got.e), got.nWords, len(got.spans), len(want.e), want.nWords, len(want.spans))
	}
	for k := range want.e {
		g, w := got.e[k], want.e[k]
		if g.id != w.id || math.Float32bits(g.v) != math.Float32bits(w.v) || got.spans[k] != want.spans[k] {
			t.Fatalf("%s: entry %d is %+v %+v, want %+v %+v", what, k, g, got.spans[k], w, want.spans[k])
		}
	}
}

// randomVec is a vector of distinct ids per block drawn from [0, ids),
// with spans when spans is set.
func randomVec(r *rand.Rand, words, chars, ids int, spans bool) messageVec {
	var q messageVec
	for b, n := range []int{words, chars} {
		seen := map[int32]bool{}
		for len(seen) < min(n, ids) {
			id := int32(r.IntN(ids))
			if b == 1 {
				id += int32(ids) // the character block's ids are apart, as a vocabulary's are
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			q.e = append(q.e, matcherEntry{id, r.Float32()})
			if spans {
				lo := int32(r.IntN(10))
				q.spans = append(q.spans, originSpan{lo, lo + 1})
			}
		}
		if b == 0 {
			q.nWords = len(q.e)
		}
	}
	return q
}
