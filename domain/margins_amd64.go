package domain

import "golang.org/x/sys/cpu"

// denseFMA is whether addDense runs addDenseFMA: the CPU has AVX2 and FMA.
var denseFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// addDense adds v times each weight of row to acc at the same place, as
// addDenseGo does, four conditions to an instruction where the CPU can.
func addDense(acc []float64, row []float32, v float64) {
	if denseFMA {
		addDenseFMA(acc[:len(row)], row, v)
		return
	}
	addDenseGo(acc, row, v)
}

// addDenseFMA is addDenseGo with AVX2: each float32 weight widened to
// float64, then multiplied by v and added to its margin in one fused
// step. Fusing rounds once where addDenseGo rounds the product and then
// the sum, but a product of two float32s is exact in float64, so both
// round the same exact sum: the margins are the same to the bit. acc is
// as long as row.
//
//go:noescape
func addDenseFMA(acc []float64, row []float32, v float64)
