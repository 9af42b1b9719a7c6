package domain

import (
	"cmp"
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

// sortOccurrences must order a block's features as a stable sort by hash
// does (so by hash, then origin), for hashes sharing their top bits (the
// insertion pass's work), repeats and a message's own features: a
// message's vector is summed in that order.
func TestSortOccurrencesSortsStablyByHash(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var blocks [][]uint64
	for _, n := range []int{0, 1, 2, 7, fewOccurrences, fewOccurrences + 1, 100, 1000} {
		for trial := range 20 {
			hs := make([]uint64, n)
			for i := range hs {
				switch trial % 4 {
				case 0: // any hash
					hs[i] = r.Uint64()
				case 1: // shared top 16 bits
					hs[i] = 0xabcd<<48 | r.Uint64()>>16
				case 2: // shared top 8 bits, as a word's character n-grams nearly do
					hs[i] = 0xab<<56 | r.Uint64()>>8
				default: // repeats
					hs[i] = uint64(r.IntN(5)) << 50
				}
			}
			blocks = append(blocks, hs)
		}
	}
	for _, row := range readBanking77(t, "test.csv")[:200] {
		f := extractFeatures(matcherWords(row.text, 3))
		blocks = append(blocks, f.words, f.chars)
	}
	for b, hs := range blocks {
		origin := make([]int32, len(hs))
		for i := range origin {
			origin[i] = int32(i / 3) // ascending, as a block's are, some shared
		}
		want := make([]occurrence, len(hs))
		for i, h := range hs {
			want[i] = occurrence{h, origin[i]}
		}
		slices.SortStableFunc(want, func(x, y occurrence) int { return cmp.Compare(x.h, y.h) })
		got := sortOccurrences(hs, origin, make([]occurrence, len(hs)), make([]occurrence, len(hs)))
		if !slices.Equal(got, want) {
			t.Fatalf("block %d (%d hashes): sortOccurrences gave %v, want %v", b, len(hs), got, want)
		}
		// In arrays holding another message's occurrences, as a turn's
		// pooled buffers do: the places a bucket has not filled yet must
		// not be read.
		occ, tmp := make([]occurrence, len(hs)), make([]occurrence, len(hs))
		for i := range occ {
			occ[i], tmp[i] = occurrence{r.Uint64(), int32(i)}, occurrence{r.Uint64(), -1}
		}
		if got := sortOccurrences(hs, origin, occ, tmp); !slices.Equal(got, want) {
			t.Fatalf("block %d (%d hashes), in used arrays: sortOccurrences gave %v, want %v", b, len(hs), got, want)
		}
	}
}
