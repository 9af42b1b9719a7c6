package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// The sweeper calls its sweeps until Stop, and Stop returns only once no
// sweep runs any more.
func TestSweeperRunsUntilStopped(t *testing.T) {
	swept := make(chan time.Time)
	w := StartSweeper(time.Millisecond, time.Now, func(now time.Time) { swept <- now })
	for range 2 {
		select {
		case <-swept:
		case <-time.After(10 * time.Second):
			t.Fatal("the sweeper did not sweep")
		}
	}
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	// A sweep already waiting to hand over its time is let finish.
	select {
	case <-swept:
		<-stopped
	case <-stopped:
	}
	w.Stop() // twice is harmless
}

func TestRateLimiterSweepForgetsRefilledKeys(t *testing.T) {
	l := NewRateLimiter(clock.System{})
	ctx := context.Background()
	_, err := l.TakeRate(ctx, "busy", 10, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 1, l.Len())
	require.Zero(t, l.Sweep(time.Now()), "a bucket still refilling is kept")
	require.Equal(t, 1, l.Sweep(time.Now().Add(time.Minute)), "a refilled bucket is forgotten")
	require.Zero(t, l.Len())
}

// committedSession stores a session with n turns, as a returning user's.
func committedSession(b testing.TB, s *Store, n int) *domain.Session {
	ctx := context.Background()
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: fmt.Sprint(time.Now().UnixNano())}
	sess, _, err := s.FindOrCreateActive(ctx, domain.NewSession(fmt.Sprint("s", time.Now().UnixNano()), k, time.Now()))
	require.NoError(b, err)
	for i := 1; i <= n; i++ {
		after := sess.Clone()
		after.RecordFire("greet", i)
		after.SetVariable("order", "A-1")
		after.EnterStep("returns", fmt.Sprint("step-", i%3), i)
		after.AdvanceTurn(i, time.Now())
		turn := &domain.Turn{ID: fmt.Sprint(sess.ID, "-", i), TenantID: "t", AgentID: "a", SessionID: sess.ID, TurnNumber: i,
			Message: "where is my order", Response: "It ships tomorrow.", Status: domain.TurnCompleted,
			Explanation: domain.NewExplanation(), SessionAfter: after}
		require.NoError(b, s.CommitTurn(ctx, ports.LeaseToken{}, turn))
		sess, err = s.GetSession(ctx, "t", sess.ID)
		require.NoError(b, err)
	}
	return sess
}

// BenchmarkReturningUserReads is the store's share of a returning user's
// turn: find the session, read it again under the lease, read the
// prompt's history.
func BenchmarkReturningUserReads(b *testing.B) {
	s := New(clock.System{})
	sess := committedSession(b, s, 50)
	ctx := context.Background()
	for b.Loop() {
		_, _, _ = s.FindOrCreateActive(ctx, domain.NewSession("x", sess.Key(), time.Now()))
		_, _ = s.GetSession(ctx, "t", sess.ID)
		_, _ = s.RecentHistory(ctx, "t", sess.ID, 10)
	}
}
