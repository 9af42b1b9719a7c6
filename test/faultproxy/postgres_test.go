package faultproxy

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"focal/test/pgtest"
)

// postgresURL is the PostgreSQL test server's URL.
func postgresURL(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(pgtest.ServerURL(t))
	require.NoError(t, err)
	return u
}

// pgTable is a fresh table on the test server, read directly past the
// proxy.
type pgTable struct {
	name   string
	direct *pgx.Conn
}

func newPgTable(t *testing.T) *pgTable {
	t.Helper()
	direct, err := pgx.Connect(t.Context(), postgresURL(t).String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = direct.Close(context.Background()) })
	tb := &pgTable{name: "faultproxy_" + uuid.NewString()[:8], direct: direct}
	_, err = direct.Exec(t.Context(), "CREATE TABLE "+tb.name+" (id text PRIMARY KEY)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = direct.Exec(context.Background(), "DROP TABLE "+tb.name) })
	return tb
}

func (tb *pgTable) exists(t *testing.T, id string) bool {
	t.Helper()
	var n int
	require.NoError(t, tb.direct.QueryRow(t.Context(), "SELECT count(*) FROM "+tb.name+" WHERE id = $1", id).Scan(&n))
	return n == 1
}

// insert sends one command: Parse, Describe, Bind, Execute, Sync.
func (tb *pgTable) insert(ctx context.Context, c *pgx.Conn, id string) error {
	_, err := c.Exec(ctx, "INSERT INTO "+tb.name+" (id) VALUES ($1)", pgx.QueryExecModeExec, id)
	return err
}

// startPostgres starts a proxy in front of the test server and connects a
// client through it, faults off while it connects. sslmode is the
// client's.
func startPostgres(t *testing.T, cfg Config, sslmode string) (*Proxy, *pgx.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := postgresURL(t)
	cfg.Target = u.Host
	rate, refuse := cfg.Rate, cfg.RefuseRate
	cfg.Rate, cfg.RefuseRate = 0, 0
	p := StartPostgres(ln, cfg)
	t.Cleanup(func() { _ = p.Close() })
	u.Host = p.Addr()
	q := u.Query()
	q.Set("sslmode", sslmode)
	q.Set("connect_timeout", "5")
	u.RawQuery = q.Encode()
	c, err := pgx.Connect(t.Context(), u.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	p.SetRates(rate, refuse)
	return p, c
}

// A client that asks for TLS first (sslmode=prefer) is told 'N' and
// connects in plain text; each Sync and each simple Query is one command.
func TestPostgresPassesCommandsAndCountsThem(t *testing.T) {
	tb := newPgTable(t)
	p, c := startPostgres(t, Config{Seed: 1}, "prefer")
	ctx := t.Context()
	before := p.Stats().Commands
	require.NoError(t, tb.insert(ctx, c, "a"))
	_, err := c.PgConn().Exec(ctx, "SELECT 1; SELECT 2").ReadAll()
	require.NoError(t, err)
	require.Equal(t, int64(2), p.Stats().Commands-before, "an extended-protocol insert and a simple query")
	require.Zero(t, p.Stats().Faulted())
	require.True(t, tb.exists(t, "a"))
}

// The proxy answers a TLS request 'N' itself, and the start-up goes on on
// the same connection.
func TestPostgresAnswersATLSRequestNo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := postgresURL(t)
	p := StartPostgres(ln, Config{Seed: 7, Target: u.Host})
	t.Cleanup(func() { _ = p.Close() })
	conn, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)), "a bound on a hang, not a measure")
	_, err = conn.Write(binary.BigEndian.AppendUint32([]byte{0, 0, 0, 8}, pgSSLRequest))
	require.NoError(t, err)
	answer := make([]byte, 1)
	_, err = io.ReadFull(conn, answer)
	require.NoError(t, err)
	require.Equal(t, "N", string(answer))

	body := binary.BigEndian.AppendUint32(nil, 3<<16) // protocol 3.0
	for _, kv := range []string{"user", u.User.Username(), "database", strings.TrimPrefix(u.Path, "/"), ""} {
		body = append(append(body, kv...), 0)
	}
	_, err = conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(4+len(body))), body...))
	require.NoError(t, err)
	typ, _, err := readTyped(conn)
	require.NoError(t, err)
	require.Equal(t, "R", string(typ), "the server's authentication request")
}

// A command dropped after it was sent was applied; one dropped before was
// not; the client gets a network error either way, not a server's.
func TestPostgresDropsAConnectionAroundACommand(t *testing.T) {
	for _, tc := range []struct {
		weights [3]float64
		applied bool
	}{{[3]float64{1, 0, 0}, true}, {[3]float64{0, 1, 0}, false}} {
		tb := newPgTable(t)
		p, c := startPostgres(t, Config{Seed: 2, Weights: tc.weights}, "disable")
		p.SetRates(1, 0)
		id := uuid.NewString()
		err := tb.insert(t.Context(), c, id)
		require.Error(t, err)
		var serverErr *pgconn.PgError
		require.False(t, errors.As(err, &serverErr), "a dropped connection, not a server's error: %v", err)
		require.True(t, c.IsClosed(), "the client's connection is gone")
		require.Equal(t, tc.applied, tb.exists(t, id), "applied when dropped after it was sent")
	}
}

// A delayed reply makes the client give up while the server applied the
// command.
func TestPostgresDelaysReplies(t *testing.T) {
	tb := newPgTable(t)
	p, c := startPostgres(t, Config{Seed: 3, Weights: [3]float64{0, 0, 1}, MinDelay: time.Second, MaxDelay: time.Second}, "disable")
	p.SetRates(1, 0)
	id := uuid.NewString()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := tb.insert(ctx, c, id)
	require.True(t, pgconn.Timeout(err), "the client timed out: %v", err)
	require.True(t, tb.exists(t, id))
	require.Equal(t, int64(1), p.Stats().Delayed)
}

// A fault lands on the reply of the command it was chosen for: the
// commands before it are answered whole and in order, and the connection
// drops at the first command dropped after it was sent.
func TestPostgresFaultsFollowEachCommandsReply(t *testing.T) {
	p, c := startPostgres(t, Config{Seed: 4, Weights: [3]float64{1, 0, 0}}, "disable")
	before := p.Stats().Commands
	p.SetRates(0.3, 0)
	answered := 0
	var err error
	for i := range 50 {
		var got int
		if err = c.QueryRow(t.Context(), "SELECT $1::int", pgx.QueryExecModeExec, i).Scan(&got); err != nil {
			break
		}
		require.Equal(t, i, got)
		answered++
	}
	require.Error(t, err, "a command was dropped")
	require.Positive(t, answered, "the seed faults a later command, not the first")
	require.Equal(t, int64(1), p.Stats().DroppedAfterSend)
	require.Equal(t, int64(answered+1), p.Stats().Commands-before, "the dropped command is the one after the answered ones")
	require.True(t, c.IsClosed())
}

func TestPostgresRefusesConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := postgresURL(t)
	p := StartPostgres(ln, Config{Seed: 5, Target: u.Host, RefuseRate: 1})
	t.Cleanup(func() { _ = p.Close() })
	u.Host = p.Addr()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = pgx.Connect(ctx, u.String())
	require.Error(t, err, "no connection gets through")
	require.Positive(t, p.Stats().Refused)
}

// A frozen server applies commands but answers none until thawed.
func TestPostgresFreezes(t *testing.T) {
	tb := newPgTable(t)
	p, c := startPostgres(t, Config{Seed: 6}, "disable")
	p.Freeze()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := tb.insert(ctx, c, "frozen")
	require.True(t, pgconn.Timeout(err), "no answer while frozen: %v", err)
	require.True(t, tb.exists(t, "frozen"), "the command took effect all the same")
	p.Thaw()
}
