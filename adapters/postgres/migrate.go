package postgres

import (
	"context"
	"embed"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"focal/adapters/sqlkit"
)

// Schema migrations: migrations/NNN_name.sql, applied in order at start-up,
// each in its own transaction together with its row in schema_migrations.
// A session-level advisory lock around the whole run makes instances that
// start at once apply each migration exactly once: the second waits, then
// finds everything applied. Migrations are never edited once released;
// a change is a new file.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key of the migration run.
const migrationLock = 0x666f63616c // "focal"

// migrate applies the migrations this database lacks.
func (db *DB) migrate(ctx context.Context) error {
	all, err := sqlkit.Migrations(migrationFiles)
	if err != nil {
		return err
	}
	if db.lastMigration > 0 {
		all = slices.DeleteFunc(all, func(m sqlkit.Migration) bool { return m.Version > db.lastMigration })
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fail(err, "migrate")
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fail(err, "lock for migrations")
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	}()
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return fail(err, "create schema_migrations")
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fail(err, "read schema_migrations")
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fail(err, "read schema_migrations")
	}
	for _, m := range sqlkit.Pending(all, applied) {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres store: migration %s: %w", m.Name, err)
		}
		db.log.Info("schema migrated", zap.String("migration", m.Name))
	}
	return nil
}
