//go:build !amd64

package domain

// addDense adds v times each weight of row to acc at the same place: on
// this architecture, as addDenseGo.
func addDense(acc []float64, row []float32, v float64) { addDenseGo(acc, row, v) }

// denseFMA is false here, with no vector kernel for addDense to run.
var denseFMA = false

// addDenseFMA is never called here (denseFMA is false): denseMargins,
// which calls the kernel itself, needs the name.
func addDenseFMA(acc *float64, row *float32, n int, v float64) {
	panic("domain: no vector kernel on this architecture")
}
