package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/mongo"
	"focal/test/chaos"
)

// The chain counts commands that ran one after another, not side by side.
func TestLongestChainCountsWaitsInSequence(t *testing.T) {
	at := func(start, end int) mongo.CommandEvent {
		base := time.Unix(0, 0)
		return mongo.CommandEvent{Started: base.Add(time.Duration(start) * time.Millisecond), Finished: base.Add(time.Duration(end) * time.Millisecond)}
	}
	require.Equal(t, 0, longestChain(nil))
	require.Equal(t, 3, longestChain([]mongo.CommandEvent{at(0, 1), at(2, 5), at(2, 4), at(3, 5), at(6, 7)}),
		"one, then three side by side, then one")
	require.Equal(t, 1, longestChain([]mongo.CommandEvent{at(0, 5), at(1, 4), at(2, 3)}))
	require.Equal(t, 4, longestChain([]mongo.CommandEvent{at(0, 1), at(1, 2), at(2, 3), at(3, 4)}), "ends meeting starts")
}

// A verdict follows the counts: 5 commands, or 4 one after another, or a
// key costing 2, is not met.
func TestMongoCommandVerdicts(t *testing.T) {
	sample := func(n, seq int) turnCommands { return turnCommands{mongo: n, sequential: seq} }
	m := &mongoCommands{samples: map[string][]turnCommands{
		returningTurn:  {sample(4, 3), sample(4, 3), sample(5, 3)},
		returningKeyed: {sample(5, 3), sample(5, 4), sample(5, 3)},
	}}
	rows := m.targets()
	require.Equal(t, met, rows[0].status, "4 commands, 3 one after another")
	require.Equal(t, met, rows[1].status, "+1 with a key")
	m.samples[returningTurn] = []turnCommands{sample(4, 4)}
	require.Equal(t, notMet, m.targets()[0].status, "4 one after another")
	m.samples[returningTurn] = []turnCommands{sample(5, 3)}
	require.Equal(t, notMet, m.targets()[0].status, "5 commands")
	m.samples[returningTurn], m.samples[returningKeyed] = []turnCommands{sample(3, 2)}, []turnCommands{sample(5, 3)}
	require.Equal(t, notMet, m.targets()[1].status, "+2 with a key")
}

// Rewriting the benchmarks file keeps every section make chaos wrote: the
// fault load's and the outage cases', on each store.
func TestBenchKeepsTheChaosSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	doc := "# Benchmarks\n\nold figures\n"
	var sections []string
	for _, store := range chaos.Stores {
		for _, marks := range []chaos.Marks{chaos.FaultMarks(store), chaos.OutageMarks(store)} {
			section := marks.Begin + "\n## figures of " + marks.Begin + "\n" + marks.End
			sections = append(sections, section)
			doc += "\n" + section + "\n"
		}
	}
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
	out := keepChaosSection(path, "# Benchmarks\n\nnew figures\n")
	require.True(t, strings.HasPrefix(out, "# Benchmarks\n\nnew figures\n"))
	for _, section := range sections {
		require.Contains(t, out, section)
	}
	require.Len(t, sections, 4)
	require.NotContains(t, out, "old figures")
}
