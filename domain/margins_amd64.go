package domain

import "golang.org/x/sys/cpu"

// denseFMA is whether addDense runs addDenseFMA: the CPU has AVX2 and
// FMA and the OS saves their registers (x/sys/cpu checks both).
var denseFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

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
