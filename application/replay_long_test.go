//go:build !race

// The replay's longest test: 5,670 turns recorded one after another and
// two replays of 5,000, sequential work the race detector slows eightfold
// (30 s under it, 4 s without) and has nothing to find in. It builds
// without it; make test runs it in a pass without -race
// (scripts/test.sh). The same recording and replay run under -race in
// the package's other replay tests.

package application_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
)

// api.md: one replay runs at most MaxReplayTurns (5,000) turns, and a
// replay cut short says so in its summary's truncated: whether sessions
// were left out, or only the last one was cut.
func TestReplayStopsAtMaxTurnsAndSaysSo(t *testing.T) {
	require.Equal(t, 5000, application.MaxReplayTurns, "the number api.md states")
	long := make([]string, 0, 60)
	for len(long) < 60 {
		long = append(long, benchMessages[:len(benchMessages)-1]...) // not the goodbye
	}
	rb := newReplayBenchOf(t, 90, long) // 90 sessions of 63 turns
	r := rb.run(t)
	assert.True(t, r.Summary.Truncated)
	assert.Equal(t, application.MaxReplayTurns, r.Summary.Turns)
	// 79 whole sessions and 23 turns of the 80th; the last ten are left
	// out, not listed empty.
	assert.Equal(t, 80, r.Summary.Sessions)
	require.Len(t, r.Sessions, 80)
	assert.Len(t, r.Sessions[79].Turns, 5000-79*63)

	// The same 80 sessions named: none is left out, the last is cut.
	ids := make([]string, 0, 80)
	for _, s := range r.Sessions {
		ids = append(ids, s.SessionID)
	}
	cut, err := rb.replay.Run(context.Background(), application.ReplayCommand{TenantID: tenant, AgentID: demoAgent,
		Version: rb.candidate, SessionIDs: ids})
	require.NoError(t, err)
	assert.Equal(t, application.MaxReplayTurns, cut.Summary.Turns)
	assert.True(t, cut.Summary.Truncated, "the last session's later turns were left out")

	whole := newReplayBench(t, 3).run(t)
	assert.False(t, whole.Summary.Truncated)
	assert.Equal(t, 30, whole.Summary.Turns)
}
