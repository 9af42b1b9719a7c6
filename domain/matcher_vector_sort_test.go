package domain

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// sortHashes must order hashes exactly as slices.Sort does, duplicates and
// hashes sharing their top bits included: a context's vector is built in
// that order, and its scores must not move.
func TestSortHashesSortsLikeSlicesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, 100, 1000} {
		for trial := range 20 {
			hs := make([]uint64, n)
			for i := range hs {
				switch trial % 3 {
				case 0: // any hash
					hs[i] = r.Uint64()
				case 1: // shared top 16 bits: the insertion pass's work
					hs[i] = 0xabcd<<48 | r.Uint64()>>16
				default: // repeats
					hs[i] = uint64(r.IntN(5)) << 50
				}
			}
			want := slices.Sorted(slices.Values(hs))
			got := sortHashes(slices.Clone(hs), make([]uint64, n))
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d trial %d: sortHashes gave %v, want %v", n, trial, got, want)
			}
		}
	}
}
