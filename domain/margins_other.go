//go:build !amd64

package domain

// addDense adds v times each weight of row to acc at the same place: on
// this architecture, as addDenseGo.
func addDense(acc []float64, row []float32, v float64) { addDenseGo(acc, row, v) }
