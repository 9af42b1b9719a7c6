package chaos

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// postgresHost is the host:port of the PostgreSQL server at base.
func postgresHost(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("the PostgreSQL URL: %w", err)
	}
	return u.Host, nil
}

// postgresDB is base's URL for database, at host when host is not "".
func postgresDB(base, host, database string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("the PostgreSQL URL: %w", err)
	}
	if host != "" {
		u.Host = host
	}
	u.Path = "/" + database
	return u.String(), nil
}

// adminExec runs sql on base's own database, past the proxy.
func adminExec(ctx context.Context, base, sql string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// postgresServer names the PostgreSQL server at base and its version.
func postgresServer(ctx context.Context, base string) string {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "PostgreSQL (version not read: " + err.Error() + ")"
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "PostgreSQL (version not read: " + err.Error() + ")"
	}
	return "PostgreSQL " + version
}

// createPostgresDB creates the run's database (a plain name: letters,
// digits, underscores).
func createPostgresDB(ctx context.Context, base, database string) error {
	if err := adminExec(ctx, base, "CREATE DATABASE "+database); err != nil {
		return fmt.Errorf("create database %s: %w", database, err)
	}
	return nil
}

// DropPostgresDB drops a run's database, closing what still uses it.
func DropPostgresDB(ctx context.Context, base, database string) error {
	return adminExec(ctx, base, "DROP DATABASE IF EXISTS "+database+" WITH (FORCE)")
}

// readStoredPostgres reads every session and turn of the run's database
// directly, past the proxy. The columns are the PostgreSQL store's
// (adapters/postgres/migrations): a session's status column wins over its
// state's copy; the channel identity is in the state.
func readStoredPostgres(ctx context.Context, base, database string) (*storedState, error) {
	dbURL, err := postgresDB(base, "", database)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	st := &storedState{turns: map[string]storedTurn{}, numbers: map[string][]int{}}
	rows, err := conn.Query(ctx, `SELECT id, status, state::json->>'user_channel_id' FROM sessions`)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	st.sessions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedSession, error) {
		var s storedSession
		err := r.Scan(&s.id, &s.status, &s.user)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	rows, err = conn.Query(ctx, `SELECT id, session_id, turn_number, record FROM turns`)
	if err != nil {
		return nil, fmt.Errorf("read turns: %w", err)
	}
	var id, sessionID, record string
	var number int
	_, err = pgx.ForEachRow(rows, []any{&id, &sessionID, &number, &record}, func() error {
		return st.addTurn(id, sessionID, number, record)
	})
	if err != nil {
		return nil, fmt.Errorf("read turns: %w", err)
	}
	return st, nil
}
