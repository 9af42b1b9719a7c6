package domain

import (
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestPortableMathIsAmd64Math: exp, log and log1p return what math returns
// on amd64, to the bit, over a million arguments each and the edge cases:
// the golden digests were taken with math's. math.Exp takes its FMA path
// only on a CPU with AVX and FMA; on one without, exp (which always takes
// it) may differ from math.Exp in the last bit, and no more.
func TestPortableMathIsAmd64Math(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	mathExpFMA := cpu.X86.HasAVX && cpu.X86.HasFMA
	for i, x := range portableMathArgs(rng, 1_000_000) {
		want := math.Exp(x)
		if got := exp(x); !sameFloat(got, want) && (mathExpFMA || !withinUlp(got, want)) {
			t.Fatalf("exp(%v) = %v, math.Exp: %v (argument %d)", x, got, want, i)
		}
		if x = math.Abs(x); x >= 0x1p-1022 || x == 0 { // math.Log's assembly does not normalise subnormals
			if got, want := log(x), math.Log(x); !sameFloat(got, want) {
				t.Fatalf("log(%v) = %v, math.Log: %v", x, got, want)
			}
		}
	}
	for _, x := range append(portableMathArgs(rng, 1_000_000), -1, -0.5, -0.2928, -0.2929, 0.4142, 0.4143, 1e-300, 0x1p-29, 0x1p-54, 0x1p53, 0x1p60) {
		if got, want := log1p(x), math.Log1p(x); !sameFloat(got, want) {
			t.Fatalf("log1p(%v) = %v, math.Log1p: %v", x, got, want)
		}
	}
}

func withinUlp(a, b float64) bool {
	return a == math.Nextafter(b, math.Inf(1)) || a == math.Nextafter(b, math.Inf(-1))
}
