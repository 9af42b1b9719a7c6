package postgres

import (
	"context"
	"embed"
	"errors"
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

// checkSchema refuses, for ReadOnly, a database that is not a store of
// this binary's schema: without schema_migrations, or with other
// migrations applied than this binary's.
func (db *DB) checkSchema(ctx context.Context) error {
	all, err := sqlkit.Migrations(migrationFiles)
	if err != nil {
		return err
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return fail(err, "read schema_migrations")
	}
	if !exists {
		return errors.New("postgres store: not a Focal store: the database has no schema_migrations table")
	}
	rows, err := db.pool.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fail(err, "read schema_migrations")
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fail(err, "read schema_migrations")
	}
	if err := sqlkit.CheckApplied(all, applied); err != nil {
		return fmt.Errorf("postgres store: %w", err)
	}
	return nil
}

// SameDatabase tells whether two configurations reach one database,
// however each URL spells it (postgres:// or postgresql://, the host by
// name or address, parameters in any order): it asks each server for its
// cluster's system identifier, the database and the schema the tables
// are in. A replica answers as its primary does (the same data).
func SameDatabase(ctx context.Context, a, b Config) (bool, error) {
	ia, err := identity(ctx, a)
	if err != nil {
		return false, err
	}
	ib, err := identity(ctx, b)
	if err != nil {
		return false, err
	}
	return ia == ib, nil
}

// identity names the data cfg reaches: the cluster, the database, the
// schema.
func identity(ctx context.Context, cfg Config) (string, error) {
	cfg = cfg.WithDefaults()
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return "", fmt.Errorf("FOCAL_POSTGRES_URL: %w", err)
	}
	cc.ConnectTimeout = cfg.ConnectTimeout
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.OperationTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return "", fail(err, "connect")
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var system, database, schema string
	err = conn.QueryRow(ctx, `SELECT s.system_identifier::text, current_database(), coalesce(current_schema(), '')
		FROM pg_control_system() s`).Scan(&system, &database, &schema)
	if err != nil {
		return "", fail(err, "read the server's identity")
	}
	return system + "/" + database + "/" + schema, nil
}
