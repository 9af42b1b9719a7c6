package domain

// denseFMA is whether addDense runs addDenseFMA: the CPU has AVX2 and FMA.
var denseFMA = hasAVX2FMA()

// hasAVX2FMA reads CPUID as golang.org/x/sys/cpu does (which the domain
// may not import): AVX2 and FMA, and the OS saving the YMM registers.
func hasAVX2FMA() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	const sseAVXState = 1<<1 | 1<<2 // XMM and YMM registers
	if xgetbv0()&sseAVXState != sseAVXState {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2 = 1 << 5
	return ebx7&avx2 != 0
}

// cpuid is the CPUID instruction for leaf eaxArg, subleaf ecxArg.
//
//go:noescape
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv0 is the low half of XCR0: the register states the OS saves.
//
//go:noescape
func xgetbv0() (eax uint32)

// addDense adds v times each weight of row to acc at the same place, as
// addDenseGo does, four conditions to an instruction where the CPU can.
// The kernel takes pointers: four words to pass where slices took seven.
func addDense(acc []float64, row []float32, v float64) {
	if denseFMA && len(row) > 0 {
		_ = acc[len(row)-1] // the kernel writes as many margins as row has
		addDenseFMA(&acc[0], &row[0], len(row), v)
		return
	}
	addDenseGo(acc, row, v)
}

// addDenseFMA is addDenseGo with AVX2 for n margins from acc and n
// weights from row: each float32 weight widened to float64, then
// multiplied by v and added to its margin in one fused step. Fusing
// rounds once where addDenseGo rounds the product and then the sum, but
// a product of two float32s is exact in float64, so both round the same
// exact sum: the margins are the same to the bit.
//
//go:noescape
func addDenseFMA(acc *float64, row *float32, n int, v float64)
