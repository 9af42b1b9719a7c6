package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/test/faultproxy"
)

// On every store, the section says "met" only for what the counts show,
// and replaces the previous run's on that store without touching the rest
// of the file, the other store's section included.
func TestReportVerdictsComeFromTheCounts(t *testing.T) {
	for _, store := range Stores {
		t.Run(store, func(t *testing.T) {
			cfg := Config{Store: store, Concurrency: 8, Faults: DefaultFaults(3)}
			clean := &Result{Server: "a server", Requests: 10, RacingMessages: 4, RaceTurns: 4, RaceAnswered: 3, RaceNumbersDense: true,
				Answers: map[string]int{"200": 9, "503 STORE_UNAVAILABLE": 1}, Proxy: faultproxy.Stats{Commands: 100, Delayed: 5}}
			md := clean.Markdown(cfg, time.Now(), time.Second)
			require.NotContains(t, md, "not met")
			require.Contains(t, md, "## "+StoreName(store)+" under injected faults")
			require.Contains(t, md, "| turns stored twice | 0 | met |")
			require.Contains(t, md, "5 of 100 commands faulted")

			for _, c := range []struct {
				name  string
				spoil func(*Result)
				row   string
			}{
				{"stored twice", func(r *Result) { r.DuplicatedTurns = 2 }, "| turns stored twice | 2 | **not met** |"},
				{"lost", func(r *Result) { r.LostTurns = 1 }, "| answered turns not stored | 1 | **not met** |"},
				{"two active", func(r *Result) { r.TwoActiveSessions = 1 }, "| channel identities with two active sessions | 1 | **not met** |"},
				{"unexpected", func(r *Result) { r.UnexpectedAnswers = 3 }, "| answers neither the committed turn nor a retryable error | 3 | **not met** |"},
				{"mismatched", func(r *Result) { r.MismatchedPairs = 1 }, "| same Idempotency-Key, different answers | 1 | **not met** |"},
				{"more turns than messages", func(r *Result) { r.RaceTurns = 9 }, "9 turns, 3 of 4 answered, dense: true | **not met** |"},
				{"fewer turns than answers", func(r *Result) { r.RaceTurns = 3 }, "3 turns, 3 of 4 answered, dense: true | **not met** |"},
				{"gap", func(r *Result) { r.RaceNumbersDense = false }, "4 turns, 3 of 4 answered, dense: false | **not met** |"},
			} {
				broken := *clean
				c.spoil(&broken)
				require.Contains(t, broken.Markdown(cfg, time.Now(), time.Second), c.row, c.name)
			}

			other := FaultMarks(StoreMongo)
			if store == StoreMongo {
				other = FaultMarks(StorePostgres)
			}
			require.NotEqual(t, other, FaultMarks(store))
			otherSection := other.Begin + "\nthe other store's figures\n" + other.End
			doc := "# Benchmarks\n\nabove\n\n" + otherSection + "\n"
			broken := *clean
			broken.DuplicatedTurns = 2
			once := ReplaceSection(doc, FaultMarks(store), broken.Markdown(cfg, time.Now(), time.Second))
			require.True(t, strings.HasPrefix(once, doc))
			again := clean.Markdown(cfg, time.Now(), time.Second)
			twice := ReplaceSection(once, FaultMarks(store), again)
			require.Equal(t, 1, strings.Count(twice, FaultMarks(store).Begin))
			require.NotContains(t, twice, "not met", "the new run's section replaced the old one")
			require.Equal(t, strings.TrimRight(again, "\n"), Section(twice, FaultMarks(store)))
			require.True(t, strings.HasPrefix(twice, doc), "the rest of the file stays")
			require.Equal(t, otherSection, Section(twice, other), "the other store's section stays")
		})
	}
}

// On every store, the outage section's verdicts come from the figures,
// and a case that could not run makes the run void, never passed.
func TestOutageVerdictsComeFromTheFigures(t *testing.T) {
	for _, store := range Stores {
		t.Run(store, func(t *testing.T) {
			ok := CaseResult{Name: "kill"}
			ok.within("slowest retry", 12*time.Second, 30*time.Second)
			ok.zero("messages committed twice", 0)
			res := &OutageResult{Store: store, Users: 2, Hold: 10 * time.Second, Cases: []CaseResult{ok}}
			require.True(t, res.Passed())
			md := res.Markdown(time.Now(), time.Second)
			require.Contains(t, md, "## "+StoreName(store)+" after a crash or an outage")
			require.Contains(t, md, "on the "+StoreName(store)+" test server")
			require.Contains(t, md, "every bound met")
			require.Contains(t, md, "| slowest retry | 12.0 s | ≤ 30 s | met |")

			twice := CaseResult{Name: "twice"}
			twice.zero("messages committed twice", 1)
			require.False(t, (&OutageResult{Store: store, Cases: []CaseResult{ok, twice}}).Passed())
			require.Contains(t, (&OutageResult{Store: store, Cases: []CaseResult{twice}}).Markdown(time.Now(), time.Second),
				"| messages committed twice | 1 | 0 | **not met** |")

			late := CaseResult{Name: "late"}
			late.within("slowest retry", 31*time.Second, 30*time.Second)
			res.Cases = append(res.Cases, late)
			require.False(t, res.Passed())
			md = res.Markdown(time.Now(), time.Second)
			require.Contains(t, md, "**bounds not met**")
			require.Contains(t, md, "| slowest retry | 31.0 s | ≤ 30 s | **not met** |")

			res.Cases = append(res.Cases, CaseResult{Name: "broken", Err: "focal exited before listening"})
			require.True(t, res.Void())
			require.Contains(t, res.Markdown(time.Now(), time.Second), "**void run**")

			doc := ReplaceSection("# Benchmarks\n", OutageMarks(store), md)
			doc = ReplaceSection(doc, OutageMarks(store), md)
			require.Equal(t, 1, strings.Count(doc, OutageMarks(store).Begin))
			require.NotEqual(t, OutageMarks(store), FaultMarks(store))
		})
	}
	require.NotEqual(t, OutageMarks(StoreMongo), OutageMarks(StorePostgres))
}
