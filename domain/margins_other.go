//go:build !amd64

package domain

import "unsafe"

// addDense adds v times each weight of row to acc at the same place: on
// this architecture, as addDenseGo.
func addDense(acc []float64, row []float32, v float64) { addDenseGo(acc, row, v) }

// denseFMA is false here, with no vector kernel for addDense to run.
var denseFMA = false

// addDenseFMA is the kernel's signature over addDenseGo, for
// denseMargins, which names the kernel: never called here, as denseFMA is
// false, but the plain sum if it were.
func addDenseFMA(acc *float64, row *float32, n int, v float64) {
	addDenseGo(unsafe.Slice(acc, n), unsafe.Slice(row, n), v)
}
