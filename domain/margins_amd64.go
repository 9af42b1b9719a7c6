package domain

import "golang.org/x/sys/cpu"

// denseFMA is whether addDenseRows runs addDenseRowsFMA: the CPU has AVX2
// and FMA and the OS saves their registers (x/sys/cpu checks both).
var denseFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// addDenseRows adds the rows refs finds in rows, each times its entry's
// value, to acc, as addDenseRowsGo does, four conditions to an
// instruction where the CPU can.
func addDenseRows(acc []float64, rows []float32, refs []weightsRef, es []matcherEntry) {
	if !denseFMA || len(acc) == 0 || len(refs) == 0 {
		addDenseRowsGo(acc, rows, refs, es)
		return
	}
	es = es[:len(refs)]
	for _, r := range refs {
		_ = rows[r.at:][:len(acc)] // the kernel reads each row as this would
	}
	addDenseRowsFMA(&acc[0], &rows[0], &refs[0], &es[0], len(refs), len(acc))
}

// addDenseRowsFMA is addDenseRowsGo with AVX2 for count > 0 rows and
// n > 0 margins from acc: the i-th row is n weights from
// rows[refs[i].at:], times float64(es[i].v). The kernel takes pointers,
// which its caller has checked the rows against. Each weight, a float32
// widened to float64, is multiplied by the value and added to its margin
// in one fused step. Fusing rounds once where addDenseGo rounds the
// product and then the sum, but a product of two float32s is exact in
// float64, so both round the same exact sum; and each margin gets its
// rows' products in the rows' order, which is addDenseRowsGo's: the
// margins are the same to the bit.
//
//go:noescape
func addDenseRowsFMA(acc *float64, rows *float32, refs *weightsRef, es *matcherEntry, count int, n int)
