package main

// PostgreSQL statements per turn, counted by the store's own statement
// tracer (adapters/postgres.WithStatementObserver) on a Focal started in
// this process, one turn at a time, for the same kinds of turn as the
// MongoDB commands. The verdict: a returning user's turn in at most 3
// statements one after another.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"focal/adapters/mongo"
	"focal/adapters/postgres"
	"focal/bootstrap"
)

// postgresSeqLimit is the most statements a returning user's turn may send
// one after another.
const postgresSeqLimit = 3

// postgresStatementsPerTurn is the bench's "postgres statements" section.
func (b *bench) postgresStatementsPerTurn(url string) error {
	if url == "" {
		b.report.notes = append(b.report.notes, "PostgreSQL statements per turn not measured: no FOCAL_TEST_POSTGRES_URL (make bench starts the test server itself).")
		return nil
	}
	bundle, err := b.bundleFile(100)
	if err != nil {
		return err
	}
	m, err := measurePostgresStatements(url, bundle, b.phrases.opening(0), 15)
	if err != nil {
		return fmt.Errorf("PostgreSQL statements per turn: %w", err)
	}
	b.report.extra = append(b.report.extra, postgresTargets(m)...)
	b.report.details = append(b.report.details, postgresMarkdown(m))
	return nil
}

// measurePostgresStatements runs users' turns of each kind on a Focal
// whose PostgreSQL store (the database at url) reports its statements.
// The statements are recorded as command events, so the MongoDB
// measurement's summaries and chains apply unchanged.
func measurePostgresStatements(url, bundle, message string, users int) (*mongoCommands, error) {
	log := &commandLog{}
	observe := postgres.WithStatementObserver(func(e postgres.StatementEvent) {
		log.add(mongo.CommandEvent{Name: e.Name, Started: e.Started, Finished: e.Finished})
	})
	env := map[string]string{
		"FOCAL_HTTP_ADDR": "127.0.0.1:0", "FOCAL_JWT_SECRET": benchSecret, "FOCAL_BOOTSTRAP_BUNDLE": bundle,
		"FOCAL_LOG_LEVEL": "error", "FOCAL_RATE_LIMIT_ENTERPRISE": "100000000",
		"FOCAL_STORE": "postgres", "FOCAL_POSTGRES_URL": url, "FOCAL_POLICY_REFRESH": "1m",
	}
	cfg, err := bootstrap.LoadConfigEnv("", env)
	if err != nil {
		return nil, err
	}
	var srv *bootstrap.Server
	app := fx.New(bootstrap.Options(cfg, zap.NewNop(), bootstrap.WithPostgresOption(observe), fx.Populate(&srv)), fx.NopLogger)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = app.Stop(context.Background()) }()
	m := &mongoCommands{server: "PostgreSQL", message: message, samples: map[string][]turnCommands{}}
	chat := "http://" + srv.Addr() + "/v1/chat"
	if err := m.turn(log, chat, "warm-up", "warm-up", ""); err != nil {
		return nil, err
	}
	for i := range users {
		for _, s := range []struct{ kind, user, key string }{
			{firstTurn, fmt.Sprintf("pg-%d", i), ""},
			{returningTurn, fmt.Sprintf("pg-%d", i), ""},
			{firstTurnKeyed, fmt.Sprintf("pg-key-%d", i), fmt.Sprintf("pk-%d-1", i)},
			{returningKeyed, fmt.Sprintf("pg-key-%d", i), fmt.Sprintf("pk-%d-2", i)},
		} {
			if err := m.turn(log, chat, s.kind, s.user, s.key); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func postgresTargets(m *mongoCommands) []targetRow {
	n, seq := m.median(returningTurn, mongoCount), m.median(returningTurn, sequentialCount)
	return []targetRow{{
		target:   fmt.Sprintf("PostgreSQL statements per returning user's turn ≤ %d one after another", postgresSeqLimit),
		measured: fmt.Sprintf("%d statements, %d one after another (median of %d turns)", n, seq, len(m.samples[returningTurn])),
		compare:  "counted by the store's statement tracer, not timed; see the PostgreSQL section",
		status:   judge(seq <= postgresSeqLimit, ""),
	}}
}

func postgresMarkdown(m *mongoCommands) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## PostgreSQL statements per turn\n\nCounted by the store's statement tracer, one turn at a time, %d turns of each kind "+
		"(the offline model). \"One after another\" is the longest chain of statements each starting after the previous one ended.\n\n",
		len(m.samples[returningTurn]))
	b.WriteString("| turn | statements (median, max) | one after another (median, max) | statements of the median turn |\n|---|---|---|---|\n")
	for _, kind := range turnKinds {
		names := ""
		for _, s := range m.samples[kind] {
			if s.mongo == m.median(kind, mongoCount) {
				names = strings.Join(s.names, ", ")
				break
			}
		}
		fmt.Fprintf(&b, "| %s | %d, %d | %d, %d | %s |\n", kind, m.median(kind, mongoCount), m.maxOf(kind, mongoCount),
			m.median(kind, sequentialCount), m.maxOf(kind, sequentialCount), names)
	}
	return b.String()
}
