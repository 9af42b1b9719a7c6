package mongo

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// commandCounter counts the commands the driver sends: round trips.
type commandCounter struct {
	mu    sync.Mutex
	names []string
}

func (c *commandCounter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.names = append(c.names, e.CommandName)
	}}
}

// during returns the commands fn sent.
func (c *commandCounter) during(fn func()) []string {
	c.mu.Lock()
	c.names = nil
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.names...)
}

// TestRoundTripsPerTurn pins the round trips the package documentation
// promises for the operations of one turn.
func TestRoundTripsPerTurn(t *testing.T) {
	counter := &commandCounter{}
	s := newTunedStore(t, func(o *options.ClientOptions) { o.SetMonitor(counter.monitor()) })
	ctx := t.Context()
	tenant := uuid.NewString()
	k := domain.ChannelKey{TenantID: tenant, AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}

	var sess *domain.Session
	cmds := counter.during(func() {
		var err error
		sess, _, err = s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
		require.NoError(t, err)
	})
	require.ElementsMatch(t, []string{"find", "insert", "insert"}, cmds, "FindOrCreateActive, new session")
	cmds = counter.during(func() {
		_, _, err := s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
		require.NoError(t, err)
	})
	require.ElementsMatch(t, []string{"find", "find"}, cmds, "FindOrCreateActive, existing session this process resolved before")

	var lease ports.SessionLease
	cmds = counter.during(func() {
		var err error
		lease, err = s.LockSession(ctx, tenant, sess.ID, time.Second, time.Minute)
		require.NoError(t, err)
	})
	require.Equal(t, []string{"insert"}, cmds, "LockSession, uncontended, of a session just read")
	cmds = counter.during(func() {
		var err error
		sess, err = s.GetSession(ctx, tenant, sess.ID)
		require.NoError(t, err)
	})
	require.ElementsMatch(t, []string{"find", "find"}, cmds, "GetSession")
	cmds = counter.during(func() {
		_, err := s.RecentHistory(ctx, tenant, sess.ID, 10)
		require.NoError(t, err)
	})
	require.Equal(t, []string{"find"}, cmds, "RecentHistory")
	cmds = counter.during(func() { require.NoError(t, s.CommitTurn(ctx, lease.Token(), turnAfter(sess, 1))) })
	require.Equal(t, []string{"insert"}, cmds, "CommitTurn under a lease just granted, of the next number")
	cmds = counter.during(func() { require.NoError(t, lease.Release(ctx)) })
	require.Equal(t, []string{"delete"}, cmds, "Release")
}

// TestRoundTripsSlowPaths pins what the checks cost when this process
// does not know their answer.
func TestRoundTripsSlowPaths(t *testing.T) {
	counter := &commandCounter{}
	s := newTunedStore(t, func(o *options.ClientOptions) { o.SetMonitor(counter.monitor()) })
	other := sibling(t, s) // another instance: it has seen nothing
	ctx := t.Context()
	tenant := uuid.NewString()
	k := domain.ChannelKey{TenantID: tenant, AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	sess, _, err := other.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)

	cmds := counter.during(func() {
		_, created, err := s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
		require.NoError(t, err)
		require.False(t, created)
	})
	require.ElementsMatch(t, []string{"find", "find", "find"}, cmds, "FindOrCreateActive of a key this process never resolved: the identity, then GetSession")
	_, err = s.CloseSession(ctx, tenant, sess.ID, time.Now())
	require.NoError(t, err)
	var created bool
	cmds = counter.during(func() {
		sess, created, err = s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
		require.NoError(t, err)
		require.True(t, created)
	})
	require.ElementsMatch(t, []string{"find", "find", "find", "insert", "insert"}, cmds,
		"FindOrCreateActive after a close: the remembered session reads as closed, so the identity decides")
	// As if another instance had created it: s has not seen it.
	s.forgetSession(leaseID(tenant, sess.ID))

	var lease ports.SessionLease
	cmds = counter.during(func() {
		lease, err = s.LockSession(ctx, tenant, sess.ID, time.Second, time.Minute)
		require.NoError(t, err)
	})
	require.ElementsMatch(t, []string{"insert", "find"}, cmds, "LockSession of a session not seen lately: the insert and a session read")
	cmds = counter.during(func() {
		skipped := turnAfter(sess, 2)
		requireBusy(t, s.CommitTurn(ctx, lease.Token(), skipped))
	})
	require.Equal(t, []string{"find"}, cmds, "a number this process cannot vouch for: the newest turn is read")
	cmds = counter.during(func() { require.NoError(t, s.CommitTurn(ctx, lease.Token(), turnAfter(sess, 1))) })
	require.Equal(t, []string{"insert"}, cmds, "the number read is remembered")
	require.NoError(t, lease.Release(ctx))

	// A lease too close to its expiry to be held alone (1s < skew + timeout).
	lease, err = s.LockSession(ctx, tenant, sess.ID, time.Second, time.Second)
	require.NoError(t, err)
	sess, err = s.GetSession(ctx, tenant, sess.ID)
	require.NoError(t, err)
	cmds = counter.during(func() { require.NoError(t, s.CommitTurn(ctx, lease.Token(), turnAfter(sess, 2))) })
	require.ElementsMatch(t, []string{"find", "insert"}, cmds, "a lease near its expiry is read back before the insert")
	cmds = counter.during(func() { require.NoError(t, lease.Release(ctx)) })
	require.Equal(t, []string{"insert", "delete"}, cmds, "a lease near its expiry is released with the takeover marker")

	// A dead holder's lease: the waiter takes it over with the marker.
	_, err = other.LockSession(ctx, tenant, sess.ID, 0, 50*time.Millisecond)
	require.NoError(t, err)
	time.Sleep(80 * time.Millisecond)
	cmds = counter.during(func() {
		lease, err = s.LockSession(ctx, tenant, sess.ID, time.Second, time.Minute)
		require.NoError(t, err)
	})
	require.Equal(t, []string{"insert", "find", "insert", "delete", "insert"}, cmds,
		"takeover: insert, read the expired lease, marker, delete it, insert")
	require.NoError(t, lease.Release(ctx))
}

// TestRoundTripsPerTurnTotal pins the store's round trips of a whole turn
// as the application makes it (process_message.go: rate limit, resolve the
// session, lock, read it again, commit, release; RecentHistory adds one when
// a model generates, an Idempotency-Key two).
func TestRoundTripsPerTurnTotal(t *testing.T) {
	counter := &commandCounter{}
	s := newTunedStore(t, func(o *options.ClientOptions) { o.SetMonitor(counter.monitor()) })
	ctx := t.Context()
	tenant := uuid.NewString()
	k := domain.ChannelKey{TenantID: tenant, AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	awaitWindowRoom(time.Hour, 3*time.Second)
	turn := func(sessionID string) []string {
		return counter.during(func() {
			_, err := s.TakeRate(ctx, "tenant:"+tenant, 1000, time.Hour)
			require.NoError(t, err)
			var sess *domain.Session
			if sessionID != "" {
				sess, err = s.GetSession(ctx, tenant, sessionID)
			} else {
				sess, _, err = s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
			}
			require.NoError(t, err)
			l, err := s.LockSession(ctx, tenant, sess.ID, time.Second, time.Minute)
			require.NoError(t, err)
			sess, err = s.GetSession(ctx, tenant, sess.ID)
			require.NoError(t, err)
			require.NoError(t, s.CommitTurn(ctx, l.Token(), turnAfter(sess, sess.TurnCount+1)))
			require.NoError(t, l.Release(ctx))
		})
	}
	require.Len(t, turn(""), 9, "a new user's first turn")
	require.Len(t, turn(""), 8, "a returning user's next turn, by channel identity")
	sess, _, err := s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)
	require.Len(t, turn(sess.ID), 8, "a next turn by session id")
}

// turnAfter is turn n of sess.
func turnAfter(sess *domain.Session, n int) *domain.Turn {
	after := sess.Clone()
	after.AdvanceTurn(n, time.Now())
	return &domain.Turn{ID: uuid.NewString(), TenantID: sess.TenantID, AgentID: sess.AgentID, SessionID: sess.ID,
		TurnNumber: n, Message: "hi", Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}
}

func requireBusy(t *testing.T, err error) {
	t.Helper()
	require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "want SESSION_BUSY, got %v", err)
}

// TestRoundTripsIdempotencyAndRates pins the round trips of the
// idempotency and rate-limit ports.
func TestRoundTripsIdempotencyAndRates(t *testing.T) {
	counter := &commandCounter{}
	s := newTunedStore(t, func(o *options.ClientOptions) { o.SetMonitor(counter.monitor()) })
	ctx := t.Context()
	tenant, key := uuid.NewString(), "k-"+uuid.NewString()
	rec := ports.IdempotencyRecord{TenantID: tenant, Key: key, Fingerprint: "f", Owner: "o1", ExpiresAt: time.Now().Add(time.Minute)}
	claim := func(r ports.IdempotencyRecord, want bool) {
		t.Helper()
		_, claimed, err := s.ClaimIdempotencyKey(ctx, r)
		require.NoError(t, err)
		require.Equal(t, want, claimed)
	}
	require.Equal(t, []string{"insert"}, counter.during(func() { claim(rec, true) }), "claim of a fresh key")
	other := rec
	other.Owner = "o2"
	require.Equal(t, []string{"insert", "find"}, counter.during(func() { claim(other, false) }), "claim of a running key")
	require.Equal(t, []string{"find"}, counter.during(func() {
		_, err := s.GetIdempotencyKey(ctx, tenant, key)
		require.NoError(t, err)
	}), "GetIdempotencyKey")
	require.Equal(t, []string{"update"}, counter.during(func() {
		require.NoError(t, s.CompleteIdempotencyKey(ctx, tenant, key, "o1", 200, nil, []byte("ok")))
	}), "CompleteIdempotencyKey")
	require.Equal(t, []string{"delete"}, counter.during(func() {
		require.NoError(t, s.ReleaseIdempotencyKey(ctx, tenant, key, "o1"))
	}), "ReleaseIdempotencyKey")

	short := ports.IdempotencyRecord{TenantID: tenant, Key: "k-" + uuid.NewString(), Fingerprint: "f", Owner: "o1",
		ExpiresAt: time.Now().Add(50 * time.Millisecond)}
	claim(short, true)
	time.Sleep(80 * time.Millisecond)
	short.Owner, short.ExpiresAt = "o2", time.Now().Add(time.Minute)
	require.Equal(t, []string{"insert", "find", "insert", "delete", "insert"}, counter.during(func() { claim(short, true) }),
		"claim replacing an expired record")

	const limit = 3
	awaitWindowRoom(time.Hour, 3*time.Second)
	rk := "tenant:" + uuid.NewString()
	for range limit {
		require.Equal(t, []string{"insert"}, counter.during(func() {
			d, err := s.TakeRate(ctx, rk, limit, time.Hour)
			require.NoError(t, err)
			require.True(t, d.Allowed)
		}), "TakeRate, allowed")
	}
	require.Empty(t, counter.during(func() {
		d, err := s.TakeRate(ctx, rk, limit, time.Hour)
		require.NoError(t, err)
		require.False(t, d.Allowed)
	}), "TakeRate, refused once this instance saw the window full")

	agent := uuid.NewString()
	require.Equal(t, []string{"find", "insert", "delete"}, counter.during(func() {
		require.NoError(t, s.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "a"}}))
	}), "SavePolicy")
	require.Equal(t, []string{"find"}, counter.during(func() {
		_, err := s.AgentVersion(ctx, tenant, agent)
		require.NoError(t, err)
	}), "AgentVersion")
	require.Equal(t, []string{"find", "insert", "delete"}, counter.during(func() {
		require.NoError(t, s.DeleteAgent(ctx, tenant, agent))
	}), "DeleteAgent")
}
