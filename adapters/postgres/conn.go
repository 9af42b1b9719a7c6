package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"focal/adapters/sqlkit"
	"focal/ports"
)

// DB is the connection pool every store of this package shares, with what
// this process keeps beside it: the queue of its lease waiters and the
// leases its commits spent. Open prepares it without I/O; Start connects
// and migrates. It is safe for concurrent use.
type DB struct {
	cfg     Config
	clock   ports.Clock
	log     *zap.Logger
	poolCfg *pgxpool.Config
	pool    *pgxpool.Pool

	waiters *sqlkit.Queue
	spent   sqlkit.Spent

	sweeper sqlkit.Sweeper

	// lastMigration, when not 0, is the last migration Start applies:
	// tests write rows as an older schema had them.
	lastMigration int
	// readOnly: opened by ReadOnly.
	readOnly bool
}

// Open validates cfg and prepares the pool. It does no I/O: Start connects.
func Open(cfg Config, clock ports.Clock, log *zap.Logger, opts ...Option) (*DB, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		return nil, errors.New("postgres store: a clock is required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("FOCAL_POSTGRES_URL: %w", err)
	}
	pc.MaxConns, pc.MinConns = cfg.MaxConns, cfg.MinConns
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	// A connection idle for less than PingIdleAfter is used unchecked: a
	// statement that finds it closed is sent again (connectionLost).
	pingAfter := cfg.PingIdleAfter
	pc.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool { return p.IdleDuration > pingAfter }
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "focal"
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.observers) > 0 {
		pc.ConnConfig.Tracer = &statementTracer{observers: o.observers}
	}
	if o.readOnly {
		pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	return &DB{cfg: cfg, clock: clock, log: log.Named("postgres"), poolCfg: pc, waiters: sqlkit.NewQueue(), readOnly: o.readOnly}, nil
}

// Connect opens the store and starts it: for callers without a lifecycle.
func Connect(ctx context.Context, cfg Config, clock ports.Clock, log *zap.Logger, opts ...Option) (*DB, error) {
	db, err := Open(cfg, clock, log, opts...)
	if err != nil {
		return nil, err
	}
	if err := db.Start(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

// Start connects, checks that the server keeps acknowledged commits
// (synchronous_commit and fsync on), applies the schema migrations and
// starts the sweep of expired records (ReadOnly: only checks the schema).
// A server that cannot be reached is STORE_UNAVAILABLE.
func (db *DB) Start(ctx context.Context) error {
	pool, err := pgxpool.NewWithConfig(ctx, db.poolCfg)
	if err != nil {
		return fail(err, "connect")
	}
	db.pool = pool
	if err := db.start(ctx); err != nil {
		pool.Close()
		return err
	}
	if !db.readOnly {
		db.sweeper.Start(db.sweep)
	}
	return nil
}

func (db *DB) start(ctx context.Context) error {
	var syncCommit, fsync string
	err := db.pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('fsync')`).Scan(&syncCommit, &fsync)
	if err != nil {
		return fail(err, "read the server's settings")
	}
	if syncCommit == "off" || fsync == "off" {
		return fmt.Errorf("postgres store: the server runs with synchronous_commit=%s and fsync=%s: an acknowledged turn "+
			"could be lost in a crash. Focal needs both on (synchronous_commit may be local, remote_write, on or remote_apply)", syncCommit, fsync)
	}
	if db.readOnly {
		return db.checkSchema(ctx)
	}
	return db.migrate(ctx)
}

// Close stops the sweep and closes the pool.
func (db *DB) Close(context.Context) error {
	if db.pool == nil {
		return nil
	}
	db.sweeper.Stop()
	db.pool.Close()
	return nil
}

// Ping checks that the server answers. STORE_UNAVAILABLE when it does not.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	return fail(db.pool.Ping(ctx), "ping")
}

// Pool is the connection pool (tests read the tables directly).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// op bounds one store call by the configured operation timeout; the
// caller's own deadline still applies when it is sooner.
func (db *DB) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.cfg.OperationTimeout)
}

// Option adjusts a DB.
type Option func(*options)

type options struct {
	observers []func(StatementEvent)
	readOnly  bool
}

// ReadOnly opens the database to read it and nothing else (focal store
// copy's source): every transaction read-only, the schema checked instead
// of migrated (Start refuses a database whose migrations are not this
// binary's), no sweep.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// StatementEvent is one statement the store sent, reported when it
// finished: one round trip to the server.
type StatementEvent struct {
	// Name is the statement's name (its leading "-- name" comment), or its
	// first words.
	Name     string
	Started  time.Time
	Finished time.Time
	Failed   bool
}

// WithStatementObserver calls fn once per statement when it finishes,
// with its timing: for counting round trips and how many of them run one
// after another. Each option adds an observer; a nil fn is ignored.
func WithStatementObserver(fn func(StatementEvent)) Option {
	return func(o *options) {
		if fn != nil {
			o.observers = append(o.observers, fn)
		}
	}
}

type statementTracer struct{ observers []func(StatementEvent) }

type traceKey struct{}

type traceStart struct {
	name string
	at   time.Time
}

func (t *statementTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{name: statementName(data.SQL), at: time.Now()})
}

func (t *statementTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	s, _ := ctx.Value(traceKey{}).(traceStart)
	ev := StatementEvent{Name: s.name, Started: s.at, Finished: time.Now(), Failed: data.Err != nil}
	for _, observe := range t.observers {
		observe(ev)
	}
}

// statementName is the text of a statement's leading "-- " comment, or
// its first two words.
func statementName(sql string) string {
	sql = strings.TrimSpace(sql)
	if rest, ok := strings.CutPrefix(sql, "-- "); ok {
		name, _, _ := strings.Cut(rest, "\n")
		return strings.TrimSpace(name)
	}
	words := strings.Fields(sql)
	return strings.ToLower(strings.Join(words[:min(2, len(words))], " "))
}

// sweep deletes expired idempotency records and rate windows.
func (db *DB) sweep() {
	ctx, cancel := db.op(context.Background())
	defer cancel()
	now := db.clock.Now().UnixNano()
	for _, sql := range []string{sqlSweepIdempotency, sqlSweepRates} {
		if _, err := db.pool.Exec(ctx, sql, now); err != nil {
			db.log.Warn("sweep of expired records failed", zap.Error(err))
			return
		}
	}
}

const (
	sqlSweepIdempotency = `-- sweep idempotency
DELETE FROM idempotency_keys WHERE expires_ns < $1`
	sqlSweepRates = `-- sweep rate windows
DELETE FROM rate_windows WHERE expires_ns < $1`
)

// readPage reads one page of a list statement, again after a lost
// connection.
func readPage[T any](ctx context.Context, db *DB, limit int, item func(sqlkit.Row) (T, string, error), sql string, args ...any) (ports.Page[T], error) {
	var page ports.Page[T]
	err := retryIdempotent(ctx, func() error {
		rows, err := db.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		page, err = sqlkit.ReadPage(rows, limit, item)
		return err
	})
	return page, err
}
