package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.uber.org/zap"

	"focal/adapters/sqlkit"
)

// Schema migrations: migrations/NNN_name.sql, applied in order at start-up
// in one write transaction (BEGIN IMMEDIATE) that also records them in
// schema_migrations. The transaction holds the file's write lock from its
// first statement, so processes that open one file at once apply each
// migration exactly once: the second waits (busy timeout), then finds
// everything applied. Migrations are never edited once released; a change
// is a new file.

//go:embed migrations/*.sql
var migrationFiles embed.FS

func (db *DB) migrate(ctx context.Context) error {
	all, err := sqlkit.Migrations(migrationFiles)
	if err != nil {
		return err
	}
	var done []string
	err = db.write(ctx, "migrate", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns INTEGER NOT NULL)`); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		applied, err := sqlkit.Collect(rows, sqlkit.ScanInt)
		rows.Close()
		if err != nil {
			return err
		}
		for _, m := range sqlkit.Pending(all, applied) {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)`,
				m.Version, m.Name, db.clock.Now().UnixNano()); err != nil {
				return err
			}
			done = append(done, m.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	for _, name := range done {
		db.log.Info("schema migrated", zap.String("migration", name))
	}
	return nil
}

// checkSchema refuses, for ReadOnly, a file that is not a store of this
// binary's schema: without schema_migrations, or with other migrations
// applied than this binary's.
func (db *DB) checkSchema(ctx context.Context) error {
	all, err := sqlkit.Migrations(migrationFiles)
	if err != nil {
		return err
	}
	var tables int
	err = db.readers.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables)
	if err != nil {
		return err
	}
	if tables == 0 {
		return errors.New("not a Focal store: it has no schema_migrations table")
	}
	rows, err := db.readers.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	defer rows.Close()
	applied, err := sqlkit.Collect(rows, sqlkit.ScanInt)
	if err != nil {
		return err
	}
	return sqlkit.CheckApplied(all, applied)
}

// SameFile tells whether two configurations name one database file,
// however each spells its path (relative or absolute, through a symbolic
// or a hard link). A file that does not exist is no other file.
func SameFile(a, b Config) (bool, error) {
	fa, err := os.Stat(a.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite store: %w", err)
	}
	fb, err := os.Stat(b.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite store: %w", err)
	}
	return os.SameFile(fa, fb), nil
}
