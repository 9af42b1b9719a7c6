package domain

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// bestFirst keeps what sorting everything and cutting keeps, in the same
// order, and leaves exactly the rest behind, for lengths around k, ties
// of value broken by index as the compile breaks them.
func TestBestFirstIsSortingAndCutting(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	type item struct {
		v  float64
		id int
	}
	order := func(a, b item) int { return cmp.Or(cmp.Compare(b.v, a.v), cmp.Compare(a.id, b.id)) }
	for trial := range 2000 {
		n, k := rng.IntN(60), rng.IntN(70)-5
		s := make([]item, n)
		for i := range s {
			s[i] = item{float64(rng.IntN(8)), i} // few values: many ties
		}
		want := slices.Clone(s)
		slices.SortFunc(want, order)
		got := bestFirst(slices.Clone(s), k, order)
		keep := min(max(k, 0), n)
		if !slices.Equal(got, want[:keep]) {
			t.Fatalf("trial %d (n %d, k %d): kept %v, want %v", trial, n, k, got, want[:keep])
		}
		all := slices.Clone(got[:cap(got)][:n])
		slices.SortFunc(all, order)
		if !slices.Equal(all, want) {
			t.Fatalf("trial %d: the rest is not what was left out", trial)
		}
	}
}
