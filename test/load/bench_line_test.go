package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A benchmark line is read whatever custom metrics it reports between
// ns/op and B/op.
func TestBenchLineReadsPastCustomMetrics(t *testing.T) {
	for _, line := range []string{
		"BenchmarkRunTurn/rules=150-2   2000   116511 ns/op   28832 B/op   191 allocs/op",
		"BenchmarkRunTurn/rules=150-2   2000   116511 ns/op   52.00 matching-µs/op   28832 B/op   191 allocs/op",
	} {
		m := benchLine.FindStringSubmatch(line)
		require.NotNil(t, m, line)
		assert.Equal(t, []string{"BenchmarkRunTurn/rules=150-2", "116511", "28832", "191"}, m[1:], line)
	}
}
