package memory

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// A commit finds its session through its lease only while the session
// the lease was taken on is still the store's: one deleted under the
// lease is not found, and one made anew under the same id (its lease
// still held) takes the commit, as a look-up by id finds it.
func TestCommitUnderLeaseOfADeletedSession(t *testing.T) {
	for _, remade := range []bool{false, true} {
		s := New(clock.NewFake()) // a held lease is busy at once: the request waits for nothing
		k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}
		byKey := ports.LockRequest{TenantID: "t", Candidate: domain.NewSession("s1", k, time.Now()), TTL: time.Minute}
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
