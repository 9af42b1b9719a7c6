package memory

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// A lease's history is the one of its grant, even when retention drops the
// session's first turn after it, which the session's entry holds in itself
// and empties in place: here a holder whose lease expired reads it after
// the one that took the lease over committed.
func TestLeaseHistoryOutlivesRetentionOfTheFirstTurn(t *testing.T) {
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: 1}))
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}
	byKey := ports.LockRequest{TenantID: "t", Candidate: domain.NewSession("s1", k, c.Now()), History: 10, Wait: time.Second, TTL: time.Minute}
	commit := func(l ports.SessionLease, message string) *domain.Turn {
		tok, after := l.Token(), l.Session()
		after.AdvanceTurn(tok.TurnNumber, c.Now())
		turn := &domain.Turn{ID: message, TenantID: "t", AgentID: "a", SessionID: "s1", TurnNumber: tok.TurnNumber,
			Message: message, Response: "reply to " + message, Status: domain.TurnCompleted,
			Explanation: domain.NewExplanation(), SessionAfter: after}
		require.NoError(t, s.CommitTurn(t.Context(), tok, turn))
		return turn
	}
	l, err := s.LockSession(t.Context(), byKey)
	require.NoError(t, err)
	first := commit(l, "first")
	require.NoError(t, l.Release(t.Context()))

	stuck, err := s.LockSession(t.Context(), byKey)
	require.NoError(t, err)
	c.Advance(2 * time.Minute) // the holder outlives its lease
	next, err := s.LockSession(t.Context(), ports.LockRequest{TenantID: "t", SessionID: "s1", Wait: 10 * time.Second, TTL: time.Minute})
	require.NoError(t, err, "the expired lease is taken over")
	commit(next, "second")
	require.NoError(t, next.Release(t.Context()))
	recent, err := s.RecentHistory(t.Context(), "t", "s1", 10)
	require.NoError(t, err)
	require.Len(t, recent, 1, "retention dropped the first turn")

	require.Equal(t, []domain.HistoryEntry{first.History()}, stuck.History(), "the history as of the grant")
	require.NoError(t, stuck.Release(t.Context()))
}
