package memory

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// commitUnder commits the turn lease was granted for, as the chat path
// does.
func commitUnder(t *testing.T, s *Store, lease ports.SessionLease, id string) {
	tok, after := lease.Token(), lease.Session()
	after.AdvanceTurn(tok.TurnNumber, time.Now())
	turn := &domain.Turn{ID: id, TenantID: "t", AgentID: "a", SessionID: tok.SessionID, TurnNumber: tok.TurnNumber,
		Message: "hello", Response: "hi", Status: domain.TurnCompleted, Explanation: domain.NewExplanation(), SessionAfter: after}
	require.NoError(t, s.CommitTurn(t.Context(), tok, turn))
}

// A commit lets its lease go in the same step, as the SQL stores' does:
// the session's first waiter gets it then, without the holder's Release,
// which afterwards frees nothing (the waiter keeps the lease), and the
// spent lease is renewed no more.
func TestACommitHandsTheLeaseOn(t *testing.T) {
	ctx := t.Context()
	s := New(clock.NewFake())
	holder := heldLease(t, s, time.Hour)
	waiter := awaitLeaseWaiter(t, s, time.Minute)
	commitUnder(t, s, holder, "turn-1")
	require.NoError(t, <-waiter, "the commit handed the lease to the waiter")

	require.NoError(t, holder.Release(ctx), "releasing a lease its commit used is a no-op")
	require.True(t, domain.IsCode(holder.Renew(ctx), domain.CodeSessionBusy), "a lease its commit used is not renewed")
	_, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", SessionID: "s1", TTL: time.Minute})
	require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "the waiter still holds the lease: %v", err)
}

// With nobody waiting, a commit frees the lease: the next turn takes it at
// once, and the holder's Release after the commit leaves that turn's
// lease alone.
func TestACommitFreesTheLease(t *testing.T) {
	ctx := t.Context()
	s := New(clock.NewFake())
	holder := heldLease(t, s, time.Hour)
	commitUnder(t, s, holder, "turn-1")
	s.mu.Lock()
	require.Empty(t, s.leases, "the commit let the lease go")
	s.mu.Unlock()

	next, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", SessionID: "s1", TTL: time.Minute})
	require.NoError(t, err)
	require.NoError(t, holder.Release(ctx))
	require.NoError(t, next.Renew(ctx), "the next turn's lease is its own")
	commitUnder(t, s, next, "turn-2")
	require.NoError(t, next.Release(ctx))
}
