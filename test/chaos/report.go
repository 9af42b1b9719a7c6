package chaos

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// Markers delimit the sections a run writes into a markdown file, one
// pair per store and kind of run; the rest of the file is left as it is.
const (
	// The fault-injection load's section on MongoDB.
	SectionBegin = "<!-- chaos:begin (written by make chaos) -->"
	SectionEnd   = "<!-- chaos:end -->"
	// The fault-injection load's section on PostgreSQL.
	PostgresSectionBegin = "<!-- chaos-postgres:begin (written by make chaos) -->"
	PostgresSectionEnd   = "<!-- chaos-postgres:end -->"
	// The outage cases' section on MongoDB.
	OutageBegin = "<!-- chaos-outages:begin (written by make chaos) -->"
	OutageEnd   = "<!-- chaos-outages:end -->"
	// The outage cases' section on PostgreSQL.
	PostgresOutageBegin = "<!-- chaos-outages-postgres:begin (written by make chaos) -->"
	PostgresOutageEnd   = "<!-- chaos-outages-postgres:end -->"
)

// Marks are the markers around one section.
type Marks struct{ Begin, End string }

// FaultMarks are the markers of the fault-injection load's section on store.
func FaultMarks(store string) Marks {
	if store == StorePostgres {
		return Marks{PostgresSectionBegin, PostgresSectionEnd}
	}
	return Marks{SectionBegin, SectionEnd}
}

// OutageMarks are the markers of the outage cases' section on store.
func OutageMarks(store string) Marks {
	if store == StorePostgres {
		return Marks{PostgresOutageBegin, PostgresOutageEnd}
	}
	return Marks{OutageBegin, OutageEnd}
}

// Markdown is the run's section: what was sent, what was injected, and a
// verdict per invariant, each computed from the counts.
func (r *Result) Markdown(cfg Config, at time.Time, elapsed time.Duration) string {
	var b strings.Builder
	marks := FaultMarks(cfg.Store)
	fmt.Fprintf(&b, "%s\n## %s under injected faults (`make chaos`)\n\n", marks.Begin, StoreName(cfg.Store))
	fmt.Fprintf(&b, "Written by `make chaos` on %s, in %s, against %s through `test/faultproxy`.\n\n",
		at.UTC().Format("2006-01-02 15:04 MST"), elapsed.Round(time.Second), r.Server)
	fmt.Fprintf(&b, "%d chat requests, %d at a time: %d users with one message each, %d of those messages sent twice at about "+
		"the same moment with the same Idempotency-Key, %d messages racing on one session. Faults in %.0f%% of the commands between Focal "+
		"and the server (seed %d): %d of %d commands faulted (%d connections dropped after the command was sent, %d before, %d replies "+
		"delayed by up to %s against a %s operation timeout), %d of %d new connections refused.\n\n",
		r.Requests, cfg.Concurrency, r.UniqueRequests, r.DuplicateKeys, r.RacingMessages, 100*r.FaultRate, r.Seed,
		r.Proxy.Faulted(), r.Proxy.Commands, r.Proxy.DroppedAfterSend, r.Proxy.DroppedBeforeSend, r.Proxy.Delayed,
		cfg.Faults.MaxDelay, operationTimeout, r.Proxy.Refused, r.Proxy.Connections)
	b.WriteString("| invariant | measured | verdict |\n|---|---|---|\n")
	row := func(what string, n int) {
		fmt.Fprintf(&b, "| %s | %d | %s |\n", what, n, verdict(n == 0))
	}
	row("turns stored twice", r.DuplicatedTurns)
	row("answered turns not stored", r.LostTurns)
	row("channel identities with two active sessions", r.TwoActiveSessions)
	row("answers neither the committed turn nor a retryable error", r.UnexpectedAnswers)
	row("same Idempotency-Key, different answers", r.MismatchedPairs)
	fmt.Fprintf(&b, "| racing session: turns numbered 1..n, n within answered..sent | %d turns, %d of %d answered, dense: %v | %s |\n\n",
		r.RaceTurns, r.RaceAnswered, r.RacingMessages, r.RaceNumbersDense,
		verdict(r.RaceNumbersDense && r.RaceTurns >= 1+r.RaceAnswered && r.RaceTurns <= 1+r.RacingMessages))
	b.WriteString("Answers: ")
	first := true
	for _, k := range slices.Sorted(maps.Keys(r.Answers)) {
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%s × %d", k, r.Answers[k])
	}
	fmt.Fprintf(&b, ". The load itself took %.1f s.\n%s\n", r.Seconds, marks.End)
	return b.String()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// WriteSection puts section (as Markdown wrote it) into the markdown file
// at path, replacing the previous run's in its marks, or appending it.
func WriteSection(path string, marks Marks, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, []byte(ReplaceSection(string(old), marks, section)), 0o644)
}

// ReplaceSection returns doc with its section in marks replaced by
// section, or with section appended when doc has none.
func ReplaceSection(doc string, marks Marks, section string) string {
	begin, end := strings.Index(doc, marks.Begin), strings.Index(doc, marks.End)
	if begin < 0 || end < begin {
		return strings.TrimRight(doc, "\n") + "\n\n" + strings.TrimRight(section, "\n") + "\n"
	}
	return doc[:begin] + strings.TrimRight(section, "\n") + doc[end+len(marks.End):]
}

// Section returns doc's section in marks, "" when it has none.
func Section(doc string, marks Marks) string {
	begin, end := strings.Index(doc, marks.Begin), strings.Index(doc, marks.End)
	if begin < 0 || end < begin {
		return ""
	}
	return doc[begin : end+len(marks.End)]
}

// CarrySections returns fresh with every section make chaos wrote into old
// (the fault load's and the outage cases', on every store), so a file
// rewritten by another tool keeps them.
func CarrySections(old, fresh string) string {
	for _, store := range Stores {
		for _, marks := range []Marks{FaultMarks(store), OutageMarks(store)} {
			if section := Section(old, marks); section != "" {
				fresh = ReplaceSection(fresh, marks, section)
			}
		}
	}
	return fresh
}

// Markdown is the outage cases' section: per case, each figure measured,
// its bound and the verdict computed from them. A case that could not run
// makes the whole run void.
func (r *OutageResult) Markdown(at time.Time, elapsed time.Duration) string {
	var b strings.Builder
	marks := OutageMarks(r.Store)
	fmt.Fprintf(&b, "%s\n## %s after a crash or an outage (`make chaos`)\n\n", marks.Begin, StoreName(r.Store))
	verdictLine := "every bound met"
	switch {
	case r.Void():
		verdictLine = "**void run**: a case could not run (its error is below); nothing here is a verdict"
	case !r.Passed():
		verdictLine = "**bounds not met** (below)"
	}
	fmt.Fprintf(&b, "Written by `make chaos` on %s, in %s: %s. Real `focal serve` processes on the %s test server "+
		"(through `test/faultproxy` where the store vanishes or hangs), the fake model streaming at 30 ms a token; %d keyed "+
		"streams and %d unkeyed ones in flight at each fault; `FOCAL_IDEMPOTENCY_HOLD` %s, lease %s, so the takeover delay "+
		"is %s. Store unreachable for %s; hanging for %s.\n\n",
		at.UTC().Format("2006-01-02 15:04 MST"), elapsed.Round(time.Second), verdictLine, StoreName(r.Store), r.Users, r.Users, r.Hold, leaseTTL,
		max(r.Hold, leaseTTL), r.Outage, r.Freeze)
	for _, c := range r.Cases {
		fmt.Fprintf(&b, "**%s** (%.0f s)\n\n", c.Name, c.Seconds)
		if c.Err != "" {
			fmt.Fprintf(&b, "Could not run: `%s`\n\n", c.Err)
			continue
		}
		b.WriteString("| measured | value | bound | verdict |\n|---|---|---|---|\n")
		for _, f := range c.Figures {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f.What, f.Measured, f.Bound, verdict(f.Met))
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "\n%s.", n)
		}
		b.WriteString("\n\n")
	}
	b.WriteString(marks.End + "\n")
	return b.String()
}
