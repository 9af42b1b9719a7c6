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
	byKey := ports.LockRequest{TenantID: "t", Candidate: domain.NewSession(fmt.Sprint("s", time.Now().UnixNano()), k, time.Now()),
		Wait: time.Second, TTL: time.Minute}
	for i := 1; i <= n; i++ {
		l, err := s.LockSession(ctx, byKey)
		require.NoError(b, err)
		sess := l.Session()
		after := sess.Clone()
		after.RecordFire("greet", i)
		after.SetVariable("order", "A-1")
		after.EnterStep("returns", fmt.Sprint("step-", i%3), i)
		after.AdvanceTurn(i, time.Now())
		turn := &domain.Turn{ID: fmt.Sprint(sess.ID, "-", i), TenantID: "t", AgentID: "a", SessionID: sess.ID, TurnNumber: i,
			Message: "where is my order", Response: "It ships tomorrow.", Status: domain.TurnCompleted,
			Explanation: domain.NewExplanation(), SessionAfter: after}
		require.NoError(b, s.CommitTurn(ctx, l.Token(), turn))
		require.NoError(b, l.Release(ctx))
	}
	sess, err := s.GetSession(ctx, "t", byKey.Candidate.ID)
	require.NoError(b, err)
	return sess
}

// BenchmarkReturningUserReads is the store's share of a returning user's
// turn: the lease by channel key, which carries the session and the
// prompt's history, given back.
func BenchmarkReturningUserReads(b *testing.B) {
	s := New(clock.System{})
	sess := committedSession(b, s, 50)
	ctx := context.Background()
	req := ports.LockRequest{TenantID: "t", Candidate: domain.NewSession("x", sess.Key(), time.Now()), History: 10,
		Wait: time.Second, TTL: time.Minute}
	for b.Loop() {
		l, err := s.LockSession(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = l.Session(), l.History()
		_ = l.Release(ctx)
	}
}

// Retention settings the store cannot keep are refused at start-up:
// negative bounds, and a TTL with no sweep to enforce it.
func TestRetentionValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		r    Retention
		ok   bool
	}{
		{"the defaults", Retention{SessionTTL: 24 * time.Hour, MaxTurns: 1000, SweepInterval: time.Minute}, true},
		{"keep everything", Retention{}, true},
		{"turns bounded, no TTL, no sweep", Retention{MaxTurns: 5}, true},
		{"a negative TTL", Retention{SessionTTL: -time.Hour, SweepInterval: time.Minute}, false},
		{"negative max turns", Retention{MaxTurns: -1, SweepInterval: time.Minute}, false},
		{"a negative sweep interval", Retention{SweepInterval: -time.Minute}, false},
		{"a TTL with no sweep", Retention{SessionTTL: time.Hour}, false},
	} {
		if err := c.r.Validate(); c.ok {
			require.NoError(t, err, c.name)
		} else {
			require.Error(t, err, c.name)
		}
	}
}
