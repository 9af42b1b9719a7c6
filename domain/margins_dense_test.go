package domain

import (
	"math"
	"math/rand/v2"
	"testing"
)

// oddFloat32 draws a weight or a value as margins meet them, with signed
// zeros and exact ties often enough to matter.
func oddFloat32(rng *rand.Rand) float32 {
	switch rng.IntN(8) {
	case 0:
		return 0
	case 1:
		return float32(math.Copysign(0, -1))
	case 2:
		return float32(rng.IntN(5) - 2) // sums that cancel exactly
	default:
		return float32(rng.NormFloat64())
	}
}

// TestAddDenseRowsIsThePlainSum checks addDenseRows (the vector kernel
// where the CPU has it) and addDenseRowsGo against adding each product
// one at a time, row after row, bit for bit: rows of every length up to
// past a few rounds of 32, runs of one row to a few dozen, the same row
// more than once, and margins, weights and values that are signed zeros
// or cancel exactly.
func TestAddDenseRowsIsThePlainSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	kernels := map[string]func([]float64, []float32, []weightsRef, []matcherEntry){
		"addDenseRows": addDenseRows, "addDenseRowsGo": addDenseRowsGo}
	for trial := range 5000 {
		n := 1 + trial%110
		count := 1 + rng.IntN(24)
		rows := make([]float32, (count/2+1)*n)
		for k := range rows {
			rows[k] = oddFloat32(rng)
		}
		refs, es := make([]weightsRef, count), make([]matcherEntry, count)
		for i := range refs {
			refs[i] = weightsRef{at: int32(rng.IntN(count/2+1) * n), n: int32(n)}
			es[i] = matcherEntry{v: oddFloat32(rng)}
		}
		start := make([]float64, n+3) // a margin past the rows stays as it was
		for c := range start {
			start[c] = float64(oddFloat32(rng))
		}
		want := append([]float64(nil), start...)
		for i, r := range refs {
			for c, w := range rows[r.at:][:n] {
				want[c] += float64(es[i].v) * float64(w)
			}
		}
		for name, add := range kernels {
			acc := append([]float64(nil), start...)
			add(acc[:n], rows, refs, es)
			for c := range acc {
				if math.Float64bits(acc[c]) != math.Float64bits(want[c]) {
					t.Fatalf("%s, %d rows of %d: margin %d is %v, the plain sum %v (from %v)",
						name, count, n, c, acc[c], want[c], start[c])
				}
			}
		}
	}
}

// randomMatcher is a matcher of n conditions and dim features laid out as
// compiling lays one out, with postings drawn to name few, many or all of
// the conditions, weights and biases drawn by oddFloat32 (a bias of -0
// when negZero).
func randomMatcher(rng *rand.Rand, n, dim int, negZero bool) *Matcher {
	m := &Matcher{bias: make([]float64, n), postStart: make([]int32, dim+1)}
	for c := range m.bias {
		m.bias[c] = float64(oddFloat32(rng))
		if m.bias[c] == 0 {
			m.bias[c] = 0 // a +0 bias: a -0 one turns the rows off
		}
	}
	if negZero {
		m.bias[rng.IntN(n)] = math.Copysign(0, -1)
	}
	for f := range dim {
		share := []float64{0.05, 0.3, 0.6, 0.9, 1}[rng.IntN(5)]
		for c := range n {
			if rng.Float64() < share {
				m.postCond = append(m.postCond, int32(c))
				m.postW = append(m.postW, oddFloat32(rng))
			}
		}
		m.postStart[f+1] = int32(len(m.postCond))
	}
	m.indexLayouts()
	return m
}

// TestDenseMarginsArePostingsMargins checks margins of matchers whose
// features take dense rows against the plain sum over their postings, bit
// for bit, with each addDenseRows kernel: condition counts that are not a
// multiple of any kernel's lanes, messages of features in any order and
// values that are signed zeros, and a -0 bias, which must keep the rows
// off and its margin -0.
func TestDenseMarginsArePostingsMargins(t *testing.T) {
	eachDenseKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(13, 17))
		for trial := range 300 {
			n := []int{17, 23, 31, 33, 64, 100, 101, 255, 256}[trial%9]
			negZero := trial%5 == 0
			m := randomMatcher(rng, n, 40, negZero)
			if (m.denseRows == nil) != negZero {
				t.Fatalf("%d conditions, a -0 bias %t: dense rows %t", n, negZero, m.denseRows != nil)
			}
			acc := newMargins(n)
			for range 20 {
				x := &matcherVec{}
				for range rng.IntN(30) {
					x.e = append(x.e, matcherEntry{id: int32(rng.IntN(40)), v: oddFloat32(rng)})
				}
				want := referenceMargins(m, x)
				m.margins(x, acc)
				for c := range want {
					if math.Float64bits(acc[c]) != math.Float64bits(want[c]) {
						t.Fatalf("%d conditions (dense from %d postings): condition %d's margin is %v, the plain sum %v",
							n, m.denseFrom, c, acc[c], want[c])
					}
				}
			}
		}
	})
}

// TestDenseRowsAreThePostings checks a compiled matcher's dense rows and
// where smallMargins finds each feature's weights, which the compiled
// matcher's digest leaves out, against its postings: each row is its
// feature's weights by condition, 0 where it has none, only features
// naming at least denseFrom conditions have one, and every other
// feature is found at its postings.
func TestDenseRowsAreThePostings(t *testing.T) {
	b77, _ := banking77Conditions(readBanking77(t, "train.csv"), 40)
	m, err := CompileMatcher(b77, MatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, rows := len(m.bias), 0
	for f := range len(m.postStart) - 1 {
		lo, hi := m.postStart[f], m.postStart[f+1]
		if ref := m.weightsAt[f]; ref.n != hi-lo {
			t.Fatalf("feature %d of %d postings is found as %d", f, hi-lo, ref.n)
		}
		if hi-lo < m.denseFrom {
			if m.weightsAt[f].at != lo {
				t.Fatalf("feature %d's postings start at %d, found at %d", f, lo, m.weightsAt[f].at)
			}
			continue
		}
		want := make([]float32, n)
		for k := lo; k < hi; k++ {
			want[m.postByte[k]] = m.postW[k]
		}
		row := m.denseRows[m.weightsAt[f].at:][:n]
		for c := range want {
			if math.Float32bits(row[c]) != math.Float32bits(want[c]) {
				t.Fatalf("feature %d's row has %v for condition %d, its postings %v", f, row[c], c, want[c])
			}
		}
		rows++
	}
	if rows == 0 || rows*n != len(m.denseRows) {
		t.Fatalf("%d features with rows, %d weights of rows for %d conditions", rows, len(m.denseRows), n)
	}
}
