package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// takeTurn commits turn n of the session under a lease taken by id, as a
// returning user's turn does.
func takeTurn(t *testing.T, db *DB, id string, n int) {
	t.Helper()
	l, err := NewLeases(db).LockSession(t.Context(), lockByID(id, time.Second))
	require.NoError(t, err, "turn %d: lease take", n)
	after := l.Session()
	after.AdvanceTurn(n, time.Now())
	require.NoError(t, NewTurns(db).CommitTurn(t.Context(), l.Token(), &domain.Turn{ID: fmt.Sprint("turn-", n), TenantID: "t",
		AgentID: "a", SessionID: id, TurnNumber: n, Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}),
		"turn %d: commit", n)
	require.NoError(t, l.Release(t.Context()), "turn %d: release", n)
}

// A connection taken from the pool is pinged first only when it sat idle
// longer than PingIdleAfter (by default pgxpool's own second): a service
// that raises it spares its returning users' turns the round trip. pgxpool measures idle time on the wall clock, which the test
// does not wait out: the pool is told its connection sat idle as long as
// the case says. The proxy counts every command, a ping included; the
// statement observer counts the store's statements, pings not.
func TestAnIdleConnectionIsPingedOnlyPastItsThreshold(t *testing.T) {
	var statements atomic.Int64
	const threshold = time.Minute
	db, p, _ := openBehindProxy(t, Config{MaxConns: 1, PingIdleAfter: threshold}, WithStatementObserver(func(StatementEvent) { statements.Add(1) }))
	decide := db.poolCfg.ShouldPing
	require.NotNil(t, decide, "the store decides when the pool pings")
	var idle atomic.Int64
	db.poolCfg.ShouldPing = func(ctx context.Context, params pgxpool.ShouldPingParams) bool {
		params.IdleDuration = time.Duration(idle.Load())
		return decide(ctx, params)
	}
	startDB(t, db)
	id := newSession(t, db)
	takeTurn(t, db, id, 1) // prepares the commit on the connection

	for i, tc := range []struct {
		name   string
		idle   time.Duration
		pinged bool
	}{
		{"idle past the default of 1 s", 2 * time.Second, false},
		{"idle as long as the threshold", threshold, false},
		{"idle past the threshold", threshold + time.Second, true},
	} {
		idle.Store(int64(tc.idle))
		commands, sent := p.Stats().Commands, statements.Load()
		takeTurn(t, db, id, i+2)
		commands, sent = p.Stats().Commands-commands, statements.Load()-sent
		require.Positive(t, sent, tc.name)
		want := sent // each statement takes the connection once
		if tc.pinged {
			want = 2 * sent
		}
		require.Equal(t, want, commands, "%s: %d statements sent", tc.name, sent)
	}
}

// killIdleConnection has the server end db's one connection, idle in the
// pool, as a restart would.
func killIdleConnection(t *testing.T, db *DB, direct string) {
	t.Helper()
	var pid int
	require.NoError(t, db.Pool().QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid))
	admin, err := pgx.Connect(t.Context(), direct)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	var gone bool
	// The second argument waits for the backend to exit: its FATAL is then
	// in the connection's socket.
	require.NoError(t, admin.QueryRow(t.Context(), `SELECT pg_terminate_backend($1, 30000)`, pid).Scan(&gone))
	require.True(t, gone, "the store's connection was terminated")
}

// A connection the server ended while it sat idle in the pool (unpinged:
// idle for less than PingIdleAfter, an hour here, so however slowly the
// test runs) fails the next statement with the
// server's FATAL; that statement is sent again on a new connection, so
// the turn goes through, whether the dead connection met its lease take
// or its commit, and is stored once.
func TestATurnGoesThroughAConnectionKilledWhileIdle(t *testing.T) {
	for _, killedBefore := range []string{"lease take", "commit"} {
		t.Run(killedBefore, func(t *testing.T) {
			ctx := t.Context()
			direct := freshDatabase(t)
			db := openDB(t, Config{URL: direct, MaxConns: 1, PingIdleAfter: time.Hour})
			id := newSession(t, db)
			kill := func() { killIdleConnection(t, db, direct) }

			if killedBefore == "lease take" {
				kill()
			}
			l, err := NewLeases(db).LockSession(ctx, lockByID(id, time.Second))
			require.NoError(t, err, "lease take")
			after := l.Session()
			after.AdvanceTurn(1, time.Now())
			if killedBefore == "commit" {
				kill()
			}
			require.NoError(t, NewTurns(db).CommitTurn(ctx, l.Token(), &domain.Turn{ID: "turn-1", TenantID: "t", AgentID: "a",
				SessionID: id, TurnNumber: 1, Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}), "commit")
			require.NoError(t, l.Release(ctx))

			page, err := NewTurns(db).ListTurns(ctx, "t", id, ports.TurnQuery{})
			require.NoError(t, err)
			require.Len(t, page.Items, 1)
			s, err := NewSessions(db).GetSession(ctx, "t", id)
			require.NoError(t, err)
			require.Equal(t, 1, s.TurnCount)
		})
	}
}
