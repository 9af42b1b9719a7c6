//go:build !amd64

package domain

import "unsafe"

// addDenseRows adds the rows refs finds in rows, each times its entry's
// value, to acc: on this architecture, as addDenseRowsGo.
func addDenseRows(acc []float64, rows []float32, refs []weightsRef, es []matcherEntry) {
	addDenseRowsGo(acc, rows, refs, es)
}

// denseFMA is false here, with no vector kernel for addDenseRows to run.
var denseFMA = false

// addDenseRowsFMA is the kernel's signature over addDenseRowsGo, for
// addWeights, which names the kernel: never called here, as denseFMA is
// false, but the plain sums if it were.
func addDenseRowsFMA(acc *float64, rows *float32, refs *weightsRef, es *matcherEntry, count int, n int) {
	last := 0
	for _, r := range unsafe.Slice(refs, count) {
		last = max(last, int(r.at)+n)
	}
	addDenseRowsGo(unsafe.Slice(acc, n), unsafe.Slice(rows, last), unsafe.Slice(refs, count), unsafe.Slice(es, count))
}
