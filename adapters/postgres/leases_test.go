package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// A lock by channel key builds the new session, its id included, every
// time, and stores only the one it creates: its one find-or-create
// statement needs it up front (so the contract suite runs with
// LazySession false, and ports.LockRequest says so).
func TestLockByKeyBuildsTheNewSessionEveryTime(t *testing.T) {
	leases := NewLeases(testDB(t))
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}
	var ids []string
	req := ports.LockRequest{TenantID: "t", Key: k, Opened: time.Now(), Wait: time.Second, TTL: time.Minute,
		NewID: func() (string, error) { ids = append(ids, fmt.Sprint("s", len(ids)+1)); return ids[len(ids)-1], nil }}
	for turn := range 3 {
		l, err := leases.LockSession(t.Context(), req)
		require.NoError(t, err)
		require.Equal(t, turn == 0, l.Created())
		require.Equal(t, "s1", l.Session().ID, "the session the first lock created")
		require.NoError(t, l.Release(t.Context()))
	}
	require.Len(t, ids, 3, "every lock by key made an id")
}

// A lease whose turn this process committed is released without a
// statement: the commit freed it. One that committed nothing sends one.
func TestReleaseAfterACommitSendsNothing(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	db := testDB(t, WithStatementObserver(func(e StatementEvent) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, e.Name)
	}))
	statements := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sent)
	}
	leases := NewLeases(db)
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}
	l, err := leases.LockSession(t.Context(), ports.LockRequest{TenantID: "t", Key: k, Opened: time.Now(), Wait: time.Second,
		TTL: time.Minute, NewID: func() (string, error) { return "s1", nil }})
	require.NoError(t, err)
	after := l.Session()
	after.AdvanceTurn(1, time.Now())
	require.NoError(t, NewTurns(db).CommitTurn(t.Context(), l.Token(), &domain.Turn{ID: "turn-1", TenantID: "t", AgentID: "a",
		SessionID: "s1", TurnNumber: 1, Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}))
	before := len(statements())
	require.NoError(t, l.Release(t.Context()))
	require.Equal(t, before, len(statements()), "the release of a committed lease sent %v", statements()[before:])

	l, err = leases.LockSession(t.Context(), lockByID("s1", time.Second))
	require.NoError(t, err)
	before = len(statements())
	require.NoError(t, l.Release(t.Context()))
	require.Equal(t, []string{"release lease"}, statements()[before:])
}

// A free lease costs one statement, by id or by channel key, the newest
// turns' history included.
func TestAFreeLeaseCostsOneStatement(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	db := testDB(t, WithStatementObserver(func(e StatementEvent) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, e.Name)
	}))
	lock := func(req ports.LockRequest) (ports.SessionLease, []string) {
		mu.Lock()
		before := len(sent)
		mu.Unlock()
		l, err := NewLeases(db).LockSession(t.Context(), req)
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		return l, slices.Clone(sent[before:])
	}
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}
	byKey := ports.LockRequest{TenantID: "t", Key: k, Opened: time.Now(), Wait: time.Second, TTL: time.Minute, History: 2,
		NewID: func() (string, error) { return "s1", nil }}
	for n := 1; n <= 3; n++ {
		l, _ := lock(byKey)
		after := l.Session()
		after.AdvanceTurn(n, time.Now())
		require.NoError(t, NewTurns(db).CommitTurn(t.Context(), l.Token(), &domain.Turn{ID: fmt.Sprint("turn-", n), TenantID: "t",
			AgentID: "a", SessionID: "s1", TurnNumber: n, Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}))
		require.NoError(t, l.Release(t.Context()))
	}
	byID := lockByID("s1", time.Second)
	byID.History = 2
	for _, req := range []ports.LockRequest{byKey, byID} {
		l, statements := lock(req)
		require.Len(t, statements, 1, "%v", statements)
		var numbers []int
		for _, h := range l.History() {
			numbers = append(numbers, h.TurnNumber)
		}
		require.Equal(t, []int{2, 3}, numbers)
		require.NoError(t, l.Release(t.Context()))
	}
}

// A take that waited on the row lock of a commit in flight (the previous
// holder's, whose lease had expired) is granted the history with that
// commit's turn: the history its statement read predates the commit, so it
// is read again under the lease now held.
func TestATakeBehindACommitGetsTheCommittedTurn(t *testing.T) {
	ctx := t.Context()
	db := testDB(t)
	leases, turns := NewLeases(db), NewTurns(db)
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}
	byKey := ports.LockRequest{TenantID: "t", Key: k, Opened: time.Now(), Wait: time.Second, TTL: time.Minute,
		NewID: func() (string, error) { return "s1", nil }}
	turnOf := func(l ports.SessionLease, n int) *domain.Turn {
		after := l.Session()
		after.AdvanceTurn(n, time.Now())
		return &domain.Turn{ID: fmt.Sprint("turn-", n), TenantID: "t", AgentID: "a", SessionID: "s1", TurnNumber: n,
			Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}
	}
	l, err := leases.LockSession(ctx, byKey)
	require.NoError(t, err)
	require.NoError(t, turns.CommitTurn(ctx, l.Token(), turnOf(l, 1)))
	require.NoError(t, l.Release(ctx))

	// The holder of turn 2 commits in a transaction kept open, after its
	// lease expired: the session's row stays locked until it ends.
	stuck, err := leases.LockSession(ctx, byKey)
	require.NoError(t, err)
	_, err = db.Pool().Exec(ctx, `UPDATE sessions SET lease_expires = now() - interval '1 second' WHERE id = 's1'`)
	require.NoError(t, err)
	turn2 := turnOf(stuck, 2)
	row, err := sqlkit.EncodeTurn(turn2)
	require.NoError(t, err)
	tx, err := db.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var version int64
	var status string
	var closedNS int64
	require.NoError(t, tx.QueryRow(ctx, sqlCommit, "t", "s1", stuck.Token().Fence, 2, string(row.After), turn2.ID, turn2.CreatedAt,
		string(row.Record), string(row.History), nil).Scan(&version, &status, &closedNS))

	taken := make(chan ports.SessionLease, 1)
	go func() {
		req := lockByID("s1", 10*time.Second)
		req.History = 1
		l, err := leases.LockSession(context.WithoutCancel(ctx), req)
		assert.NoError(t, err)
		taken <- l
	}()
	require.Eventually(t, func() bool { // the take waits for the commit's row lock
		var waiting bool
		err := db.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '-- lease by id%')`).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, tx.Commit(ctx))

	next := <-taken
	require.NotNil(t, next)
	require.Equal(t, 3, next.Token().TurnNumber)
	require.Len(t, next.History(), 1)
	require.Equal(t, 2, next.History()[0].TurnNumber, "the newest turn is the one committed while the take waited")
	require.NoError(t, next.Release(ctx))
}

// A take whose history cannot be read gives the lease it took back: the
// caller gets the error, and the session is not held for the TTL.
func TestATakeThatFailsGivesTheLeaseBack(t *testing.T) {
	ctx := t.Context()
	db := testDB(t)
	leases := NewLeases(db)
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}
	l, err := leases.LockSession(ctx, ports.LockRequest{TenantID: "t", Key: k, Opened: time.Now(), Wait: time.Second, TTL: time.Minute,
		NewID: func() (string, error) { return "s1", nil }})
	require.NoError(t, err)
	after := l.Session()
	after.AdvanceTurn(1, time.Now())
	require.NoError(t, NewTurns(db).CommitTurn(ctx, l.Token(), &domain.Turn{ID: "turn-1", TenantID: "t", AgentID: "a", SessionID: "s1",
		TurnNumber: 1, Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}))
	require.NoError(t, l.Release(ctx))
	_, err = db.Pool().Exec(ctx, `UPDATE turns SET history = '{not json' WHERE id = 'turn-1'`)
	require.NoError(t, err)

	req := lockByID("s1", time.Second)
	req.History = 1
	_, err = leases.LockSession(ctx, req)
	require.Error(t, err, "a history that cannot be read")
	l, err = leases.LockSession(ctx, lockByID("s1", 0))
	require.NoError(t, err, "the failed take kept the lease")
	require.NoError(t, l.Release(ctx))
}
