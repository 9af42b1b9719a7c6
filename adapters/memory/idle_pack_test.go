package memory

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// The idle worker encodes the sessions it packs with the lock let go: a
// session a turn used meanwhile is not packed with what was encoded (its
// snapshot is the turn's), but queued again, as pack finds a session used
// since it was queued; a session closed meanwhile stays live, as pack
// leaves one whose snapshot its newest turn does not hold; the others are
// packed and chilled as pack would.
func TestPackOutsideLeavesSessionsChangedMeanwhile(t *testing.T) {
	s, backlog := dueBacklog(t, 3)
	ctx := context.Background()
	s.mu.Lock()
	var enc *encoder
	jobs, more := s.takeDue(nil, s.now(), &enc)
	s.mu.Unlock()
	require.Nil(t, enc, "no session packed in the first hold")
	require.False(t, more)
	require.Len(t, jobs, len(backlog))

	used, closed, idle := backlog[0], backlog[1], backlog[2]
	nextTurn(t, s, used)
	_, err := s.CloseSession(ctx, "t", closed.ID, time.Now())
	require.NoError(t, err)

	for i := range jobs {
		jobs[i].encode()
	}
	s.mu.Lock()
	for i := range jobs {
		s.install(&jobs[i], s.now(), &enc)
	}
	queued := len(s.used.items) - s.used.head
	s.mu.Unlock()

	require.False(t, packed(s, used), "used meanwhile: left live")
	require.Equal(t, 1, queued, "the session used meanwhile is queued again")
	require.False(t, packed(s, closed), "closed meanwhile: its newest turn no longer holds its snapshot")
	p, cold := countPacked(s, []*domain.Session{idle})
	require.Equal(t, [2]int{1, 1}, [2]int{p, cold}, "the idle one packed and chilled")

	got, err := s.GetSession(ctx, "t", used.ID)
	require.NoError(t, err)
	require.Equal(t, 2, got.TurnCount, "the turn committed meanwhile stays")
	got, err = s.GetSession(ctx, "t", idle.ID)
	require.NoError(t, err)
	want, _ := idle.AppendJSON(nil)
	gotJSON, _ := got.AppendJSON(nil)
	require.JSONEq(t, string(want), string(gotJSON), "reads back as committed")
	got, err = s.GetSession(ctx, "t", closed.ID)
	require.NoError(t, err)
	require.Equal(t, domain.SessionClosed, got.Status)
}

// nextTurn commits the next turn of sess, leased by id.
func nextTurn(t *testing.T, s *Store, sess *domain.Session) {
	t.Helper()
	ctx := context.Background()
	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", SessionID: sess.ID, Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	tok, after := l.Token(), l.Session()
	after.RecordFire("again", tok.TurnNumber)
	after.AdvanceTurn(tok.TurnNumber, time.Now())
	turn := &domain.Turn{ID: fmt.Sprint(sess.ID, "-", tok.TurnNumber), TenantID: "t", AgentID: "a", SessionID: sess.ID,
		TurnNumber: tok.TurnNumber, Message: "and now?", Response: "Still tomorrow.", Status: domain.TurnCompleted,
		Explanation: domain.NewExplanation(), SessionAfter: after}
	require.NoError(t, s.CommitTurn(ctx, tok, turn))
	require.NoError(t, l.Release(ctx))
}

// Turns from several goroutines while the idle worker packs and chills
// their sessions, and thaws bring them back, read back every turn they
// committed: run with -race, it shows the encoding outside the lock reads
// nothing a turn writes.
func TestIdleWorkerPacksWhileTurnsRun(t *testing.T) {
	c := newCycle(t)
	c.step = 500 * time.Millisecond // every user's session due between its turns
	w := c.s.StartIdleWork()
	const goroutines, users, rounds = 2, 8, 12
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				for u := range users {
					if _, _, err := c.try(fmt.Sprint("u-", g, "-", u), r); err != nil {
						errs[g] = err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	w.Stop()
	for _, err := range errs {
		require.NoError(t, err)
	}
	ctx := context.Background()
	for g := range goroutines {
		for u := range users {
			l, err := c.s.LockSession(ctx, ports.LockRequest{TenantID: "t", Wait: time.Second, TTL: time.Minute, NewID: func() (string, error) { return footprintID(), nil },
				Key: domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "bench", UserChannelID: fmt.Sprint("u-", g, "-", u)}})
			require.NoError(t, err)
			require.Equal(t, rounds, l.Session().TurnCount, "every turn kept")
			turns, err := c.s.ListTurns(ctx, "t", l.Token().SessionID, ports.TurnQuery{Page: ports.PageRequest{Limit: 100}})
			require.NoError(t, err)
			require.Len(t, turns.Items, rounds)
			require.NoError(t, l.Release(ctx))
		}
	}
}
