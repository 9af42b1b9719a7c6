package domain

import "testing"

// eachDenseKernel runs f with addDenseRows on each kernel: the vector one,
// where the CPU has it, and Go's.
func eachDenseKernel(t *testing.T, f func(t *testing.T)) {
	fma := denseFMA
	defer func() { denseFMA = fma }()
	if fma {
		t.Run("fma", f)
	} else {
		t.Log("no AVX2 and FMA here: only Go's kernel runs")
	}
	denseFMA = false
	t.Run("go", f)
}
