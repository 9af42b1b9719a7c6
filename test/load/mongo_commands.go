package main

// MongoDB commands per turn, counted by the store's own command monitoring
// (adapters/mongo.WithCommandObserver) on a Focal started in this process,
// one turn at a time: a new user's first turn and a returning user's next
// turn, each without and with an Idempotency-Key. Each command is counted
// as MongoDB would get it, or as a workaround only a server without some
// MongoDB feature needs (FerretDB: its second read where MongoDB joins
// with $lookup, its takeover markers); "one after another" is the longest
// chain of commands in which each started after the previous one ended.
// The verdicts compare those counts with the targets: a returning user's
// turn in at most 4 commands, at most 3 one after another; an
// Idempotency-Key adding at most 1.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"focal/adapters/mongo"
	"focal/bootstrap"
	"focal/test/chaos"
)

// mongoCommandsPerTurn is the bench's "mongo commands" section: it
// measures and adds the targets and the section to the report.
func (b *bench) mongoCommandsPerTurn(mongoURI string) error {
	if mongoURI == "" {
		b.report.notes = append(b.report.notes, "MongoDB commands per turn not measured: no FOCAL_TEST_MONGO_URI (make bench starts the test server itself).")
		return nil
	}
	bundle, err := b.bundleFile(100)
	if err != nil {
		return err
	}
	m, err := measureMongoCommands(mongoURI, bundle, b.phrases.opening(0), 15)
	if err != nil {
		return fmt.Errorf("MongoDB commands per turn: %w", err)
	}
	b.report.extra = append(b.report.extra, m.targets()...)
	b.report.details = append(b.report.details, m.markdown())
	return nil
}

// turnCommands is what one turn sent.
type turnCommands struct {
	mongo, workaround int // commands MongoDB gets; commands only for the server's missing features
	sequential        int // of the MongoDB ones, the longest chain one after another
	names             []string
}

// commandLog collects the store's commands.
type commandLog struct {
	mu     sync.Mutex
	events []mongo.CommandEvent
}

func (l *commandLog) add(e mongo.CommandEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// take returns and forgets what was collected.
func (l *commandLog) take() []mongo.CommandEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

func summarize(events []mongo.CommandEvent) turnCommands {
	var t turnCommands
	var main []mongo.CommandEvent
	for _, e := range events {
		if e.Workaround {
			t.workaround++
			continue
		}
		t.mongo++
		main = append(main, e)
		t.names = append(t.names, e.Name)
	}
	t.sequential = longestChain(main)
	return t
}

// longestChain is the most commands of events that ran one after another:
// each starting once the one before it had ended.
func longestChain(events []mongo.CommandEvent) int {
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b mongo.CommandEvent) int { return a.Finished.Compare(b.Finished) })
	chain := make([]int, len(sorted))
	best := 0
	for i, e := range sorted {
		chain[i] = 1
		for j := range i {
			if !sorted[j].Finished.After(e.Started) {
				chain[i] = max(chain[i], chain[j]+1)
			}
		}
		best = max(best, chain[i])
	}
	return best
}

// mongoCommands is the measurement: samples per kind of turn.
type mongoCommands struct {
	server  string
	message string // what every turn says
	samples map[string][]turnCommands
}

// The kinds of turn measured.
const (
	firstTurn        = "a new user's first turn"
	returningTurn    = "a returning user's next turn"
	firstTurnKeyed   = "a new user's first turn, with an Idempotency-Key"
	returningKeyed   = "a returning user's next turn, with an Idempotency-Key"
	mongoTargetLimit = 4
	mongoSeqLimit    = 3
)

var turnKinds = []string{firstTurn, returningTurn, firstTurnKeyed, returningKeyed}

func measureMongoCommands(uri, bundle, message string, users int) (*mongoCommands, error) {
	log := &commandLog{}
	url, server, stop, err := startWithCommandLog(uri, bundle, log)
	if err != nil {
		return nil, err
	}
	defer stop()
	m := &mongoCommands{server: server, message: message, samples: map[string][]turnCommands{}}
	// A warm-up turn: connections, the policy cache.
	if err := m.turn(log, url, "warm-up", "warm-up", ""); err != nil {
		return nil, err
	}
	for i := range users {
		steps := []struct{ kind, user, key string }{
			{firstTurn, fmt.Sprintf("cmd-%d", i), ""},
			{returningTurn, fmt.Sprintf("cmd-%d", i), ""},
			{firstTurnKeyed, fmt.Sprintf("cmd-key-%d", i), fmt.Sprintf("k-%d-1", i)},
			{returningKeyed, fmt.Sprintf("cmd-key-%d", i), fmt.Sprintf("k-%d-2", i)},
		}
		for _, s := range steps {
			if err := m.turn(log, url, s.kind, s.user, s.key); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// startWithCommandLog starts Focal in this process on the MongoDB server
// at uri, its store's commands going to log: the chat URL, the server's
// name and how to stop it.
func startWithCommandLog(uri, bundle string, log *commandLog) (string, string, func(), error) {
	env := map[string]string{
		"FOCAL_HTTP_ADDR": "127.0.0.1:0", "FOCAL_JWT_SECRET": benchSecret, "FOCAL_BOOTSTRAP_BUNDLE": bundle,
		"FOCAL_LOG_LEVEL": "error", "FOCAL_RATE_LIMIT_ENTERPRISE": "100000000",
		"FOCAL_STORE": "mongo", "FOCAL_MONGO_URI": uri, "FOCAL_MONGO_ALLOW_STANDALONE": "true",
		"FOCAL_MONGO_DB": fmt.Sprintf("focal_commands_%d", time.Now().UnixNano()),
		// A policy check every minute, not every second: not a turn's cost.
		"FOCAL_POLICY_REFRESH": "1m",
	}
	cfg, err := bootstrap.LoadConfigEnv("", env)
	if err != nil {
		return "", "", nil, err
	}
	var srv *bootstrap.Server
	var db *mongo.DB
	app := fx.New(bootstrap.Options(cfg, zap.NewNop(), bootstrap.WithMongoOption(mongo.WithCommandObserver(log.add)),
		fx.Populate(&srv, &db)), fx.NopLogger)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		return "", "", nil, err
	}
	stop := func() { _ = app.Stop(context.Background()) }
	return "http://" + srv.Addr() + "/v1/chat", db.Server(), stop, nil
}

// turn sends one chat turn and records the commands it cost.
func (m *mongoCommands) turn(log *commandLog, url, kind, user, key string) error {
	body, _ := json.Marshal(map[string]string{"agent_id": benchAgent, "channel": "bench", "user_channel_id": user, "message": m.message})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token())
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	log.take()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", kind, res.StatusCode)
	}
	// Every command of the turn, the key's completion included, ended
	// before the response did.
	m.samples[kind] = append(m.samples[kind], summarize(log.take()))
	return nil
}

// median of a field over a kind's samples.
func (m *mongoCommands) median(kind string, f func(turnCommands) int) int {
	xs := make([]float64, 0, len(m.samples[kind]))
	for _, s := range m.samples[kind] {
		xs = append(xs, float64(f(s)))
	}
	return int(median(xs))
}

func (m *mongoCommands) maxOf(kind string, f func(turnCommands) int) int {
	best := 0
	for _, s := range m.samples[kind] {
		best = max(best, f(s))
	}
	return best
}

func mongoCount(t turnCommands) int      { return t.mongo }
func workaroundCount(t turnCommands) int { return t.workaround }
func sequentialCount(t turnCommands) int { return t.sequential }

func (m *mongoCommands) targets() []targetRow {
	commands, seq := m.median(returningTurn, mongoCount), m.median(returningTurn, sequentialCount)
	added := m.median(returningKeyed, mongoCount) - commands
	return []targetRow{
		{fmt.Sprintf("MongoDB commands per returning user's turn ≤ %d, ≤ %d one after another", mongoTargetLimit, mongoSeqLimit),
			fmt.Sprintf("%d commands, %d one after another (median of %d turns)", commands, seq, len(m.samples[returningTurn])),
			"command monitoring, not timed; see the MongoDB section", judge(commands <= mongoTargetLimit && seq <= mongoSeqLimit, ""), ""},
		{"an Idempotency-Key adds ≤ 1 MongoDB command",
			fmt.Sprintf("+%d (%d with a key, %d without)", added, m.median(returningKeyed, mongoCount), commands),
			"command monitoring, not timed", judge(added <= 1, ""), ""},
	}
}

func (m *mongoCommands) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## MongoDB commands per turn\n\nCounted by the store's command monitoring on %s, one turn at a time, %d turns of each kind "+
		"(the offline model; a turn's history comes with its session read). \"MongoDB\" counts the commands MongoDB "+
		"gets too; \"workarounds\" the ones only a server without $lookup, $$NOW or atomic updates needs (TestRoundTripsPerTurn pins "+
		"which is which); \"one after another\" is the longest chain of MongoDB commands each starting after the previous one ended.\n\n",
		m.server, len(m.samples[returningTurn]))
	b.WriteString("| turn | MongoDB commands (median, max) | one after another (median, max) | workarounds (median) | commands of the median turn |\n|---|---|---|---|---|\n")
	for _, kind := range turnKinds {
		names := ""
		for _, s := range m.samples[kind] {
			if s.mongo == m.median(kind, mongoCount) {
				names = strings.Join(s.names, ", ")
				break
			}
		}
		fmt.Fprintf(&b, "| %s | %d, %d | %d, %d | %d | %s |\n", kind,
			m.median(kind, mongoCount), m.maxOf(kind, mongoCount), m.median(kind, sequentialCount), m.maxOf(kind, sequentialCount),
			m.median(kind, workaroundCount), names)
	}
	return b.String()
}

// keepChaosSection carries the sections `make chaos` wrote into the file
// at path over to its rewritten text.
func keepChaosSection(path, fresh string) string {
	old, err := os.ReadFile(path)
	if err != nil {
		return fresh
	}
	return chaos.CarrySections(string(old), fresh)
}
