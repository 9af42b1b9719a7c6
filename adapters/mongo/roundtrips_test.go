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
	require.ElementsMatch(t, []string{"find", "find", "find"}, cmds, "FindOrCreateActive, existing session")

	var lease ports.SessionLease
	cmds = counter.during(func() {
		var err error
		lease, err = s.LockSession(ctx, tenant, sess.ID, time.Second, time.Minute)
		require.NoError(t, err)
	})
	require.ElementsMatch(t, []string{"insert", "find"}, cmds, "LockSession, uncontended")
	cmds = counter.during(func() {
		var err error
		sess, err = s.GetSession(ctx, tenant, sess.ID)
		require.NoError(t, err)
	})
	require.ElementsMatch(t, []string{"find", "find"}, cmds, "GetSession")
	cmds = counter.during(func() {
		_, err := s.RecentTurns(ctx, tenant, sess.ID, 10)
		require.NoError(t, err)
	})
	require.Equal(t, []string{"find"}, cmds, "RecentTurns")
	after := sess.Clone()
	after.AdvanceTurn(1, time.Now())
	turn := &domain.Turn{ID: uuid.NewString(), TenantID: tenant, AgentID: k.AgentID, SessionID: sess.ID,
		TurnNumber: 1, Message: "hi", Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}
	cmds = counter.during(func() { require.NoError(t, s.CommitTurn(ctx, lease.Token(), turn)) })
	require.ElementsMatch(t, []string{"find", "find", "insert"}, cmds, "CommitTurn")
	cmds = counter.during(func() { require.NoError(t, lease.Release(ctx)) })
	require.Equal(t, []string{"delete"}, cmds, "Release")
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
