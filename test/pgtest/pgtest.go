// Package pgtest gives a test a PostgreSQL database of its own on the
// server `make test` starts (FOCAL_TEST_POSTGRES_URL).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerURL is the test server's URL. A test fails, never skips, without
// one: `make test` always provides it.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("FOCAL_TEST_POSTGRES_URL")
	if u == "" {
		t.Fatal("FOCAL_TEST_POSTGRES_URL is not set: run `make test`, or start a server with " +
			"`scripts/postgres-server.sh start .state/postgres` and export the URL it prints")
	}
	return u
}

// Database creates a database named prefix and a random suffix on the
// test server, dropped when the test ends, and returns its URL: the
// server's URL naming that database.
func Database(t testing.TB, prefix string) string {
	t.Helper()
	return DatabaseWith(t, prefix, "")
}

// LinguisticCollation makes a database's default collation ICU's en-US,
// which orders "a-x" before "B-x" and "_x" first, where the byte-wise
// order ("C") the test server's own databases use puts "B-x" first.
const LinguisticCollation = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"

// DatabaseWith is Database with options added to its CREATE DATABASE
// statement (LinguisticCollation, say).
func DatabaseWith(t testing.TB, prefix, options string) string {
	t.Helper()
	base := ServerURL(t)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := prefix + "_" + hex.EncodeToString(suffix)
	if err := admin(base, "CREATE DATABASE "+name+" "+options); err != nil {
		t.Fatalf("create the test database: %v", err)
	}
	t.Cleanup(func() {
		if err := admin(base, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop the test database: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("FOCAL_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// admin runs one statement on the server's own database.
func admin(base, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
