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
