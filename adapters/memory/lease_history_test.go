package memory

import (
	"fmt"
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

// A lease's history is the newest kept turns RecentHistory lists, as many
// as asked for: those the lease holds in itself (up to the default) and
// more.
func TestLeaseHistoryHoldsAnyNumberOfTurns(t *testing.T) {
	c := clock.NewFake()
	s := New(c)
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}
	req := ports.LockRequest{TenantID: "t", Candidate: domain.NewSession("s1", k, c.Now()), History: 1, Wait: time.Second, TTL: time.Minute}
	for n := range 14 {
		l, err := s.LockSession(t.Context(), req)
		require.NoError(t, err)
		tok, after := l.Token(), l.Session()
		after.AdvanceTurn(tok.TurnNumber, c.Now())
		require.NoError(t, s.CommitTurn(t.Context(), tok, &domain.Turn{ID: fmt.Sprint("turn-", n), TenantID: "t", AgentID: "a", SessionID: "s1",
			TurnNumber: tok.TurnNumber, Message: fmt.Sprint("message ", n), Status: domain.TurnCompleted,
			Explanation: domain.NewExplanation(), SessionAfter: after}))
		require.NoError(t, l.Release(t.Context()))
	}
	for _, n := range []int{1, domain.DefaultHistoryTurns, domain.DefaultHistoryTurns + 1, 20} {
		req.History = n
		l, err := s.LockSession(t.Context(), req)
		require.NoError(t, err)
		want, err := s.RecentHistory(t.Context(), "t", "s1", n)
		require.NoError(t, err)
		require.Len(t, want, min(n, 14))
		require.Equal(t, want, l.History(), "history of %d", n)
		require.NoError(t, l.Release(t.Context()))
	}
}

// A commit finds its session through its lease only while the session
// the lease was taken on is still the store's: one deleted under the
// lease is not found, and one made anew under the same id (its lease
// still held) takes the commit, as a look-up by id finds it.
func TestCommitUnderLeaseOfADeletedSession(t *testing.T) {
	for _, remade := range []bool{false, true} {
		s := New(clock.System{})
		k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}
		byKey := ports.LockRequest{TenantID: "t", Candidate: domain.NewSession("s1", k, time.Now()), Wait: time.Millisecond, TTL: time.Minute}
		l, err := s.LockSession(t.Context(), byKey)
		require.NoError(t, err)
		require.NoError(t, s.DeleteSession(t.Context(), "t", "s1"))
		if remade {
			_, err := s.LockSession(t.Context(), byKey)
			require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "the new session's lease is still held: %v", err)
		}
		tok, after := l.Token(), l.Session()
		after.AdvanceTurn(tok.TurnNumber, time.Now())
		turn := &domain.Turn{ID: "turn-1", TenantID: "t", AgentID: "a", SessionID: "s1", TurnNumber: tok.TurnNumber,
			Message: "hello", Response: "hi", Status: domain.TurnCompleted, Explanation: domain.NewExplanation(), SessionAfter: after}
		err = s.CommitTurn(t.Context(), tok, turn)
		require.NoError(t, l.Release(t.Context()))
		if !remade {
			require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "%v", err)
			_, err = s.GetTurn(t.Context(), "t", "turn-1")
			require.True(t, domain.IsCode(err, domain.CodeTurnNotFound), "nothing was committed: %v", err)
			continue
		}
		require.NoError(t, err)
		got, err := s.GetSession(t.Context(), "t", "s1")
		require.NoError(t, err)
		require.Equal(t, 1, got.TurnCount, "the turn went to the session made anew")
		history, err := s.RecentHistory(t.Context(), "t", "s1", 10)
		require.NoError(t, err)
		require.Equal(t, []domain.HistoryEntry{turn.History()}, history)
	}
}
