package domain

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// eachDenseKernel runs f with addDense on each kernel: the vector one,
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

// TestCPUIDReadsAsTheKernel checks hasAVX2FMA against the flags Linux
// reads for the same CPU, where it lists them: a wrong bit would leave a
// CPU that has the kernel without it, or worse, one without it running it.
func TestCPUIDReadsAsTheKernel(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo here:", err)
	}
	for line := range strings.Lines(string(info)) {
		name, flags, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "flags" {
			continue
		}
		has := strings.Fields(flags)
		want := slices.Contains(has, "avx2") && slices.Contains(has, "fma")
		if got := hasAVX2FMA(); got != want {
			t.Fatalf("hasAVX2FMA() = %t; /proc/cpuinfo lists avx2 and fma: %t", got, want)
		}
		return
	}
	t.Skip("/proc/cpuinfo lists no flags")
}
