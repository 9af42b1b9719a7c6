//go:build !race

package application

// poolsKeep: see pool_race_test.go.
const poolsKeep = true
