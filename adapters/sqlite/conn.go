package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"focal/adapters/sqlkit"
	"focal/ports"
)

// DB is one SQLite database file opened twice: one writer connection,
// through which every write goes in a transaction that starts with BEGIN
// IMMEDIATE (so it holds the file's write lock from its first statement
// and never has to upgrade a read lock, which could deadlock), and a pool
// of read-only connections. In WAL mode readers never wait for the writer
// and see only committed transactions.
//
// Durability: synchronous=FULL. In WAL mode NORMAL syncs the log only at
// checkpoints, so a transaction acknowledged just before a power cut can
// be lost (not before a process crash: the OS has the pages). FULL syncs
// the log at every commit, so an acknowledged turn survives either; it
// costs one fsync per write transaction, which the single writer pays in
// sequence.
type DB struct {
	cfg   Config
	clock ports.Clock
	log   *zap.Logger

	writer, readers *sql.DB
	waiters         *sqlkit.Queue
	spent           sqlkit.Spent

	sweeper sqlkit.Sweeper

	// readOnly: opened by ReadOnly.
	readOnly bool
}

// Option adjusts a DB.
type Option func(*DB)

// ReadOnly opens the file to read it and nothing else (focal store copy's
// source): every connection read-only, the schema checked instead of
// migrated (Start refuses a file whose migrations are not this binary's),
// no sweep. Writes fail.
func ReadOnly() Option { return func(db *DB) { db.readOnly = true } }

// Open validates cfg. It does no I/O: Start opens the file.
func Open(cfg Config, clock ports.Clock, log *zap.Logger, opts ...Option) (*DB, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		return nil, errors.New("sqlite store: a clock is required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	db := &DB{cfg: cfg, clock: clock, log: log.Named("sqlite"), waiters: sqlkit.NewQueue()}
	for _, opt := range opts {
		opt(db)
	}
	return db, nil
}

// Connect opens the store and starts it: for callers without a lifecycle.
func Connect(ctx context.Context, cfg Config, clock ports.Clock, log *zap.Logger) (*DB, error) {
	db, err := Open(cfg, clock, log)
	if err != nil {
		return nil, err
	}
	if err := db.Start(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

// dsn is the driver's name for the file with the pragmas every connection
// runs when it opens.
func (db *DB) dsn(readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", db.cfg.BusyTimeout.Milliseconds()))
	if !db.readOnly { // setting the journal mode may write the file
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	switch {
	case db.readOnly:
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(ON)")
	case readOnly:
		q.Add("_pragma", "query_only(ON)")
	default:
		q.Set("_txlock", "immediate")
	}
	return "file:" + db.cfg.Path + "?" + q.Encode()
}

// Start creates the file's directory when missing, opens the writer and
// the readers, and applies the schema migrations (ReadOnly: checks them).
func (db *DB) Start(ctx context.Context) error {
	if db.readOnly {
		return db.startReadOnly(ctx)
	}
	if dir := filepath.Dir(db.cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("sqlite store: FOCAL_SQLITE_PATH: %w", err)
		}
	}
	writer, err := sql.Open("sqlite", db.dsn(false))
	if err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	db.writer = writer
	if err := db.migrate(ctx); err != nil {
		_ = writer.Close()
		return err
	}
	readers, err := sql.Open("sqlite", db.dsn(true))
	if err != nil {
		_ = writer.Close()
		return fmt.Errorf("sqlite store: %w", err)
	}
	readers.SetMaxOpenConns(db.cfg.Readers)
	readers.SetMaxIdleConns(db.cfg.Readers)
	db.readers = readers
	db.sweeper.Start(db.sweep)
	return nil
}

// startReadOnly opens the existing file read-only, writer and readers
// alike, and checks its schema.
func (db *DB) startReadOnly(ctx context.Context) error {
	if _, err := os.Stat(db.cfg.Path); err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	var err error
	if db.writer, err = sql.Open("sqlite", db.dsn(true)); err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	db.writer.SetMaxOpenConns(1)
	db.readers, err = sql.Open("sqlite", db.dsn(true))
	if err == nil {
		db.readers.SetMaxOpenConns(db.cfg.Readers)
		err = db.checkSchema(ctx)
	}
	if err != nil {
		_ = db.Close(ctx)
		db.writer, db.readers = nil, nil
		return fmt.Errorf("sqlite store %s: %w", db.cfg.Path, err)
	}
	return nil
}

// Close stops the sweep and closes the connections; the last one to close
// checkpoints the log into the database file.
func (db *DB) Close(context.Context) error {
	if db.writer == nil {
		return nil
	}
	db.sweeper.Stop()
	var readers error
	if db.readers != nil {
		readers = db.readers.Close()
	}
	return errors.Join(readers, db.writer.Close())
}

// Ping checks that the file can be read. STORE_UNAVAILABLE when not.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var one int
	return fail(db.readers.QueryRowContext(ctx, `SELECT 1 FROM lease_fences`).Scan(&one), "ping")
}

// Readers is the read-only pool (tests read the tables directly).
func (db *DB) Readers() *sql.DB { return db.readers }

func (db *DB) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.cfg.OperationTimeout)
}

// write runs fn in a write transaction (BEGIN IMMEDIATE on the one writer
// connection) and commits it when fn succeeds.
func (db *DB) write(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fail(err, what)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return fail(err, what)
	}
	return fail(tx.Commit(), what)
}

// sweep deletes expired idempotency records and rate windows.
func (db *DB) sweep() {
	now := db.clock.Now().UnixNano()
	err := db.write(context.Background(), "sweep", func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM idempotency_keys WHERE expires_ns < ?`, now); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM rate_windows WHERE expires_ns < ?`, now)
		return err
	})
	if err != nil {
		db.log.Warn("sweep of expired records failed", zap.Error(err))
	}
}
