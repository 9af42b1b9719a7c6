package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/test/faultproxy"
)

// The section says "met" only for what the counts show, and replaces the
// previous run's without touching the rest of the file.
func TestReportVerdictsComeFromTheCounts(t *testing.T) {
	cfg := Config{Concurrency: 8, Faults: DefaultFaults(3)}
	clean := &Result{Server: "FerretDB x", Requests: 10, RacingMessages: 4, RaceTurns: 4, RaceAnswered: 3, RaceNumbersDense: true,
		Answers: map[string]int{"200": 9, "503 STORE_UNAVAILABLE": 1}, Proxy: faultproxy.Stats{Commands: 100, Delayed: 5}}
	md := clean.Markdown(cfg, time.Now(), time.Second)
	require.NotContains(t, md, "not met")
	require.Contains(t, md, "| turns stored twice | 0 | met |")
	require.Contains(t, md, "5 of 100 commands faulted")

	broken := *clean
	broken.DuplicatedTurns, broken.RaceTurns = 2, 9
	md = broken.Markdown(cfg, time.Now(), time.Second)
	require.Contains(t, md, "| turns stored twice | 2 | **not met** |")
	require.Contains(t, md, "9 turns, 3 of 4 answered, dense: true | **not met** |", "more turns than messages")

	doc := "# Benchmarks\n\nabove\n"
	once := ReplaceSection(doc, md)
	require.True(t, strings.HasPrefix(once, doc))
	again := clean.Markdown(cfg, time.Now(), time.Second)
	twice := ReplaceSection(once, again)
	require.Equal(t, 1, strings.Count(twice, SectionBegin))
	require.NotContains(t, twice, "not met", "the new run's section replaced the old one")
	require.Equal(t, strings.TrimRight(again, "\n"), Section(twice))
	require.True(t, strings.HasPrefix(twice, doc), "the rest of the file stays")
}
