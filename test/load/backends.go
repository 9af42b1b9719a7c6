package main

import (
	"fmt"
	"strings"
	"time"
)

// backendUsers are the returning users seeded on each backend before its
// runs, each with backendHistory turns.
const (
	backendUsers   = 100
	backendHistory = 3
)

// backendRow is what the runs on one store measured.
type backendRow struct {
	store string
	runs  []loadRun
	void  string // why the row has no figures, if it has none
}

// backends runs returning users' turns (100 rules, 32 connections, the
// offline model) on each store: memory, SQLite, and PostgreSQL and
// MongoDB when their servers are given. Informational: what each
// backend's writes cost against the memory store on the same machine.
func (b *bench) backends(pgURL, mongoURI string) error {
	bundle, err := b.bundleFile(100)
	if err != nil {
		return err
	}
	stores := []struct {
		name string
		env  []string
	}{
		{"memory", []string{"FOCAL_STORE=memory"}},
		{"sqlite", []string{"FOCAL_STORE=sqlite", "FOCAL_SQLITE_PATH=" + fmt.Sprintf("%s/bench-%d.db", b.work, time.Now().UnixNano())}},
		{"postgres", []string{"FOCAL_STORE=postgres", "FOCAL_POSTGRES_URL=" + pgURL}},
		{"mongo", []string{"FOCAL_STORE=mongo", "FOCAL_MONGO_ALLOW_STANDALONE=true", "FOCAL_MONGO_URI=" + mongoURI,
			"FOCAL_MONGO_DB=" + fmt.Sprintf("focal_backends_%d", time.Now().UnixNano())}},
	}
	var rows []backendRow
	for _, s := range stores {
		if s.name == "postgres" && pgURL == "" || s.name == "mongo" && mongoURI == "" {
			rows = append(rows, backendRow{store: s.name, void: "no server given"})
			continue
		}
		row, err := b.backendRuns(bundle, s.name, s.env)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rows = append(rows, row)
	}
	b.report.details = append(b.report.details, backendsMarkdown(rows, b.duration))
	return nil
}

// backendRuns seeds one store's returning users and runs b.runs loads.
func (b *bench) backendRuns(bundle, store string, env []string) (backendRow, error) {
	f, err := b.focal(bundle, env...)
	if err != nil {
		return backendRow{}, err
	}
	defer b.stop(f.cmd)
	openings, err := b.openings(100)
	if err != nil {
		return backendRow{}, err
	}
	if err := seedInScenario(newChatClient(f.url, token()), b.phrases, openings.messages, backendUsers, backendHistory); err != nil {
		return backendRow{}, fmt.Errorf("seeding: %w", err)
	}
	row := backendRow{store: store}
	spec := wrkSpec{url: f.url, conns: 32, duration: b.duration, mode: "returning", users: backendUsers, messageFile: b.messages}
	for range b.runs {
		run, err := b.wrk.run(spec)
		if err != nil {
			return backendRow{}, err
		}
		if why := run.Void(); why != "" {
			return backendRow{store: store, void: why + ": " + run.Sample}, nil
		}
		row.runs = append(row.runs, run)
	}
	return row, nil
}

func backendsMarkdown(rows []backendRow, duration time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Backends\n\nReturning users' turns (%d users seeded with %d turns each, 100 rules, 32 connections, the offline model, "+
		"%s runs, medians) on each store, one Focal process each. Informational: no target; the memory store is the reference.\n\n",
		backendUsers, backendHistory, duration)
	b.WriteString("| store | turns/s | p50 | p99 |\n|---|---|---|---|\n")
	for _, r := range rows {
		if r.void != "" {
			fmt.Fprintf(&b, "| %s | not measured: %s | | |\n", r.store, r.void)
			continue
		}
		rate := medianOf(r.runs, func(l loadRun) float64 { return float64(l.OK) / (float64(l.DurationUS) / 1e6) })
		p50 := medianOf(r.runs, func(l loadRun) float64 { return float64(l.P50US) / 1000 })
		p99 := medianOf(r.runs, func(l loadRun) float64 { return float64(l.P99US) / 1000 })
		fmt.Fprintf(&b, "| %s | %.0f | %.1f ms | %.1f ms |\n", r.store, rate, p50, p99)
	}
	return b.String()
}
