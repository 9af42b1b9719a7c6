//go:build race

package application

// poolsKeep: a sync.Pool under the race detector drops some of what it
// is given, on purpose, so a test cannot count on getting it back.
const poolsKeep = false
