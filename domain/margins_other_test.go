//go:build !amd64

package domain

import "testing"

// eachDenseKernel runs f with addDenseRows on each kernel: here only Go's.
func eachDenseKernel(t *testing.T, f func(t *testing.T)) { t.Run("go", f) }
