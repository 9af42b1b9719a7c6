package domain

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// referenceMargins is margins as plainly as it can be written: each
// condition's bias plus, feature by feature in the vector's order, its
// weight times the feature's value. The faster loops margins picks by
// the matcher's size must add the same products in the same order.
func referenceMargins(m *Matcher, x *matcherVec) []float64 {
	acc := slices.Clone(m.bias)
	for _, e := range x.e {
		for k := m.postStart[e.id]; k < m.postStart[e.id+1]; k++ {
			acc[m.postedCond(k)] += float64(e.v) * float64(m.postW[k])
		}
	}
	return acc
}

// TestTinyMatcherKeepsANegativeZeroBias checks that a matcher whose bias
// is -0 does not take the dense rows, which would add +0 to it and turn
// the margin of a message without its features into +0.
func TestTinyMatcherKeepsANegativeZeroBias(t *testing.T) {
	b77, _ := banking77Conditions(readBanking77(t, "train.csv"), 40)
	m, err := CompileMatcher(b77[:3], MatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.tinyRows == nil {
		t.Fatal("a matcher of three conditions should read its margins by rows")
	}
	m.bias[1] = math.Copysign(0, -1)
	m.tinyRows = nil
	m.indexTiny()
	if m.tinyRows != nil {
		t.Fatal("a -0 bias should keep the matcher off the dense rows")
	}
}

// referenceTopTwo is topTwo as plainly as it can be written.
func referenceTopTwo(v []float64) (first, second int) {
	first, second = 0, -1
	for i := 1; i < len(v); i++ {
		switch {
		case v[i] > v[first]:
			first, second = i, first
		case second < 0 || v[i] > v[second]:
			second = i
		}
	}
	if second < 0 {
		second = first
	}
	return first, second
}

// TestTopTwoIsThePlainScan checks topTwo, which skips what cannot be
// among the best two, against the plain scan on values drawn to tie, to
// be signed zeros, infinities and NaN (a margin may be any of them).
func TestTopTwoIsThePlainScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	odd := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN()}
	for trial := range 20000 {
		v := make([]float64, rng.IntN(40)) // past a few of the four topTwo skips at a time
		for i := range v {
			switch rng.IntN(3) {
			case 0:
				v[i] = odd[rng.IntN(len(odd))]
			case 1:
				v[i] = float64(rng.IntN(4)) // ties
			default:
				v[i] = rng.NormFloat64()
			}
		}
		f, s := topTwo(v)
		wf, ws := referenceTopTwo(v)
		if f != wf || s != ws {
			t.Fatalf("trial %d: topTwo(%v) = %d, %d; the plain scan %d, %d", trial, v, f, s, wf, ws)
		}
	}
}

// TestSortRankedSortsAsByScore checks sortRanked, which sorts a message's
// results by insertion, against slices.SortFunc by byScore, on results
// drawn to tie in score and margin, to be signed zeros and NaN, and to
// name a condition twice (as candidates may: the same result twice).
func TestSortRankedSortsAsByScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 2))
	odd := []float64{0, math.Copysign(0, -1), 0.5, 1, math.NaN()}
	value := func() float64 {
		if rng.IntN(3) == 0 {
			return odd[rng.IntN(len(odd))]
		}
		return float64(rng.IntN(4)) / 4 // ties
	}
	for trial := range 5000 {
		keys := make([]rankedResult, rng.IntN(2*maxInsertionRanked))
		conds := rng.Perm(len(keys))
		for i := range keys {
			keys[i] = rankedResult{score: value(), margin: value(), cond: conds[i]}
			if rng.IntN(4) != 0 {
				keys[i].score = rng.Float64() // most results without NaN, for the insertion
			}
			if i > 0 && rng.IntN(8) == 0 {
				keys[i] = keys[rng.IntN(i)] // a condition asked for twice
			}
			keys[i].lexical = keys[i].score
		}
		want := slices.Clone(keys)
		slices.SortFunc(want, byScore)
		sortRanked(keys)
		for i := range keys {
			a, b := keys[i], want[i]
			if math.Float64bits(a.score) != math.Float64bits(b.score) || math.Float64bits(a.margin) != math.Float64bits(b.margin) || a.cond != b.cond {
				t.Fatalf("trial %d: result %d is %+v, byScore puts %+v there", trial, i, a, b)
			}
		}
	}
}
