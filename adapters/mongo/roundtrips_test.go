package mongo

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// commands records the commands a store sends.
type commands struct {
	mu     sync.Mutex
	events []CommandEvent
}

func (c *commands) option() Option {
	return WithCommandObserver(func(e CommandEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.events = append(c.events, e)
	})
}

// sent is what fn sent: the commands MongoDB gets too, and those only a
// server without some MongoDB feature needs.
type sent struct {
	names      []string
	workaround int
}

func (c *commands) during(fn func()) sent {
	c.mu.Lock()
	c.events = nil
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	var s sent
	for _, e := range c.events {
		if e.Workaround {
			s.workaround++
		} else {
			s.names = append(s.names, e.Name)
		}
	}
	return s
}

// on picks what a server sends: MongoDB, or FerretDB's replacement.
func on[T any](db *DB, mongo, other T) T {
	if db.caps.lookup && db.caps.serverTime && db.caps.atomicUpdates {
		return mongo
	}
	return other
}

func lockByKey(t *testing.T, l *Leases, k domain.ChannelKey, history int) ports.SessionLease {
	t.Helper()
	lease, err := l.LockSession(t.Context(), ports.LockRequest{TenantID: k.TenantID, Candidate: domain.NewSession(uuid.NewString(), k, time.Now()),
		History: history, Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	return lease
}

// TestRoundTripsPerTurn pins the commands of the store operations of one
// turn, and which of them only a server without $lookup, $$NOW or atomic
// updates needs.
func TestRoundTripsPerTurn(t *testing.T) {
	rec := &commands{}
	db := testDB(t, rec.option())
	s := storesOf(db)
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}

	var lease ports.SessionLease
	got := rec.during(func() { lease = lockByKey(t, s.leases, k, 10) })
	require.True(t, lease.Created())
	require.ElementsMatch(t, on(db, []string{"aggregate", "insert", "update"}, []string{"find", "insert", "insert"}), got.names,
		"a new user's lock: the read by channel key, then the session and its first lease written at once")
	require.Zero(t, got.workaround)

	got = rec.during(func() { require.NoError(t, s.turns.CommitTurn(ctx, lease.Token(), turnAfter(lease.Session(), 1))) })
	require.Equal(t, []string{"insert"}, got.names, "a commit under a lease just granted")
	require.Zero(t, got.workaround)
	got = rec.during(func() { require.NoError(t, lease.Release(ctx)) })
	require.Empty(t, got.names, "a committed turn's lease is spent: releasing it sends nothing")

	got = rec.during(func() { lease = lockByKey(t, s.leases, k, 10) })
	require.False(t, lease.Created())
	require.Equal(t, 2, lease.Token().TurnNumber)
	require.Len(t, lease.History(), 1)
	require.ElementsMatch(t, on(db, []string{"aggregate", "update"}, []string{"find", "insert"}), got.names,
		"a returning user's lock: the session with its history, and the next lease, at once")
	require.Equal(t, on(db, 0, 1), got.workaround, "without $lookup the turns are read apart from the session")
	got = rec.during(func() { require.NoError(t, s.turns.CommitTurn(ctx, lease.Token(), turnAfter(lease.Session(), 2))) })
	require.Equal(t, []string{"insert"}, got.names)
	require.NoError(t, lease.Release(ctx))

	sid := lease.Token().SessionID
	got = rec.during(func() {
		lease, _ = s.leases.LockSession(ctx, ports.LockRequest{TenantID: k.TenantID, SessionID: sid, Wait: time.Second, TTL: time.Minute})
	})
	require.NotNil(t, lease)
	require.ElementsMatch(t, on(db, []string{"aggregate", "update"}, []string{"find", "insert"}), got.names, "a lock by session id")
	got = rec.during(func() { require.NoError(t, lease.Release(ctx)) })
	require.Equal(t, []string{"delete"}, got.names, "a lease given back unused")

	got = rec.during(func() {
		_, err := s.sessions.GetSession(ctx, k.TenantID, sid)
		require.NoError(t, err)
	})
	require.Equal(t, on(db, []string{"aggregate"}, []string{"find"}), got.names, "GetSession")
	require.Equal(t, on(db, 0, 1), got.workaround)
	got = rec.during(func() {
		_, err := s.turns.RecentHistory(ctx, k.TenantID, sid, 10)
		require.NoError(t, err)
	})
	require.Equal(t, []string{"find"}, got.names, "RecentHistory")
	got = rec.during(func() {
		_, err := s.sessions.CloseSession(ctx, k.TenantID, sid, time.Now())
		require.NoError(t, err)
	})
	require.Equal(t, on(db, []string{"aggregate", "update", "find"}, []string{"find", "update", "find"}), got.names,
		"a close: the session with its newest turn, the update, then the newest turn number again")
	require.Equal(t, on(db, 0, 1), got.workaround)
}

// TestRoundTripsSlowPaths pins what locking costs when this process does
// not know the session, or knows it wrong.
func TestRoundTripsSlowPaths(t *testing.T) {
	rec := &commands{}
	db := testDB(t, rec.option())
	other := storesOf(sibling(t, db)) // another instance
	s := storesOf(db)
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	first := lockByKey(t, other.leases, k, 0)
	require.NoError(t, other.turns.CommitTurn(ctx, first.Token(), turnAfter(first.Session(), 1)))

	var lease ports.SessionLease
	got := rec.during(func() { lease = lockByKey(t, s.leases, k, 10) })
	require.Equal(t, 2, lease.Token().TurnNumber)
	require.ElementsMatch(t, on(db, []string{"aggregate", "update"}, []string{"find", "insert"}), got.names,
		"a session this process never saw: the read, then the lease")
	require.Equal(t, on(db, 0, 1), got.workaround, "without $lookup the turns are read once the session's id is known")
	require.NoError(t, s.turns.CommitTurn(ctx, lease.Token(), turnAfter(lease.Session(), 2)))
	require.NoError(t, lease.Release(ctx))

	// The other instance serves turn 3: this one's memory is now a turn behind.
	third := lockByKey(t, other.leases, k, 0)
	require.Equal(t, 3, third.Token().TurnNumber)
	require.NoError(t, other.turns.CommitTurn(ctx, third.Token(), turnAfter(third.Session(), 3)))
	got = rec.during(func() { lease = lockByKey(t, s.leases, k, 0) })
	require.Equal(t, 4, lease.Token().TurnNumber, "the read decides, not the memory")
	require.ElementsMatch(t, on(db, []string{"aggregate", "update", "update"}, []string{"find", "insert", "insert"}), got.names,
		"a guess one turn behind: its lease write meets turn 3's lease while the read shows turn 3, then the next number's lease")
	require.NoError(t, lease.Release(ctx))
}

// TestRoundTripsIdempotencyAndRates pins the round trips of the
// idempotency and rate-limit ports.
func TestRoundTripsIdempotencyAndRates(t *testing.T) {
	rec := &commands{}
	db := testDB(t, rec.option())
	s := storesOf(db)
	ctx := t.Context()
	tenant, key := uuid.NewString(), "k-"+uuid.NewString()
	r := ports.IdempotencyRecord{TenantID: tenant, Key: key, Fingerprint: "f", Owner: "o1", ExpiresAt: time.Now().Add(time.Minute)}
	claim := func(r ports.IdempotencyRecord, want bool) {
		t.Helper()
		_, claimed, err := s.keys.ClaimIdempotencyKey(ctx, r)
		require.NoError(t, err)
		require.Equal(t, want, claimed)
	}
	write := on(db, "update", "insert")
	require.Equal(t, []string{write}, rec.during(func() { claim(r, true) }).names, "claim of a fresh key")
	otherOwner := r
	otherOwner.Owner = "o2"
	require.Equal(t, []string{write, "find"}, rec.during(func() { claim(otherOwner, false) }).names, "claim of a running key")
	require.Equal(t, []string{"find"}, rec.during(func() {
		_, err := s.keys.GetIdempotencyKey(ctx, tenant, key)
		require.NoError(t, err)
	}).names, "GetIdempotencyKey")
	require.Equal(t, []string{"update"}, rec.during(func() {
		require.NoError(t, s.keys.CompleteIdempotencyKey(ctx, tenant, key, "o1", 200, nil, []byte("ok"), time.Now().Add(time.Hour)))
	}).names, "CompleteIdempotencyKey")
	require.Equal(t, []string{"delete"}, rec.during(func() {
		require.NoError(t, s.keys.ReleaseIdempotencyKey(ctx, tenant, key, "o1"))
	}).names, "ReleaseIdempotencyKey")

	short := ports.IdempotencyRecord{TenantID: tenant, Key: "k-" + uuid.NewString(), Fingerprint: "f", Owner: "o1",
		ExpiresAt: time.Now().Add(50 * time.Millisecond)}
	claim(short, true)
	time.Sleep(80 * time.Millisecond)
	short.Owner, short.ExpiresAt = "o2", time.Now().Add(time.Minute)
	got := rec.during(func() { claim(short, true) })
	require.Equal(t, on(db, []string{"update"}, []string{"insert", "find", "insert"}), got.names, "claim replacing an expired record")
	require.Equal(t, on(db, 0, 2), got.workaround, "without atomic updates: the takeover marker and the delete")

	const limit = 3
	awaitWindowRoom(time.Hour, 3*time.Second)
	rk := "tenant:" + uuid.NewString()
	for range limit {
		require.Equal(t, []string{on(db, "findAndModify", "insert")}, rec.during(func() {
			d, err := s.rates.TakeRate(ctx, rk, limit, time.Hour)
			require.NoError(t, err)
			require.True(t, d.Allowed)
		}).names, "TakeRate, allowed")
	}
	refused := rec.during(func() {
		d, err := s.rates.TakeRate(ctx, rk, limit, time.Hour)
		require.NoError(t, err)
		require.False(t, d.Allowed)
	}).names
	require.Len(t, refused, on(db, 1, 0), "the first refusal counts on MongoDB, none on slots")
	require.Empty(t, rec.during(func() {
		d, err := s.rates.TakeRate(ctx, rk, limit, time.Hour)
		require.NoError(t, err)
		require.False(t, d.Allowed)
	}).names, "TakeRate, refused once this instance saw the window full")

	// A save reads the versions it prunes, to keep them in the history
	// first (one insert more when there are any); a delete drops the history.
	agent := uuid.NewString()
	require.Equal(t, []string{"find", "insert", "find", "delete"}, rec.during(func() {
		require.NoError(t, s.policies.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "a"}}))
	}).names, "SavePolicy")
	require.Equal(t, []string{"find", "insert", "find", "insert", "delete"}, rec.during(func() {
		require.NoError(t, s.policies.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "a", Version: 2}}))
	}).names, "SavePolicy of a second version")
	require.Equal(t, []string{"find"}, rec.during(func() {
		_, err := s.policies.AgentVersion(ctx, tenant, agent)
		require.NoError(t, err)
	}).names, "AgentVersion")
	require.Equal(t, []string{"find", "insert", "delete", "delete"}, rec.during(func() {
		require.NoError(t, s.policies.DeleteAgent(ctx, tenant, agent))
	}).names, "DeleteAgent")
}

// turnAfter is turn n of sess.
func turnAfter(sess *domain.Session, n int) *domain.Turn {
	after := sess.Clone()
	after.AdvanceTurn(n, time.Now())
	return &domain.Turn{ID: uuid.NewString(), TenantID: sess.TenantID, AgentID: sess.AgentID, SessionID: sess.ID,
		TurnNumber: n, Message: "hi", Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}
}

func requireCode(t *testing.T, err error, code domain.ErrorCode, msg string) {
	t.Helper()
	require.True(t, domain.IsCode(err, code), "%s: want %s, got %v", msg, code, err)
}
