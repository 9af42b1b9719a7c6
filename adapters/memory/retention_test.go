package memory

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// openSession makes session id (its channel identity named alike), its
// lease given back.
func openSession(t *testing.T, s *Store, c clock.Fake, id string) {
	t.Helper()
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: id}
	l, err := s.LockSession(context.Background(), ports.LockRequest{TenantID: "t", Candidate: domain.NewSession(id, k, c.Now()),
		Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	require.NoError(t, l.Release(context.Background()))
}

// A sweep never evicts a session whose lease a turn waits for, even when
// the session has been idle past the TTL and its holder's lease expired:
// the waiter gets the lease, and the session, once the holder lets go.
func TestSweepKeepsASessionATurnWaitsToLease(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{SessionTTL: time.Hour, SweepInterval: time.Minute}))
	openSession(t, s, c, "s1")
	held, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", SessionID: "s1", Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	type result struct {
		lease ports.SessionLease
		err   error
	}
	waited := make(chan result, 1)
	go func() {
		l, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", SessionID: "s1", Wait: time.Minute, TTL: time.Minute})
		waited <- result{l, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.LeaseWaiters("s1") != 1 {
		require.True(t, time.Now().Before(deadline), "the second turn never queued for the lease")
		runtime.Gosched()
	}

	c.Advance(2 * time.Hour) // idle past the TTL; the holder's lease expired
	require.Zero(t, s.Sweep(c.Now()).Sessions, "a session a turn waits to lease is kept")

	require.NoError(t, held.Release(ctx))
	got := <-waited
	require.NoError(t, got.err)
	assert.Equal(t, "s1", got.lease.Session().ID)
	require.NoError(t, got.lease.Release(ctx))
	_, err = s.GetSession(ctx, "t", "s1")
	require.NoError(t, err)
}

// A session closed after a long idle is kept for the TTL from its close,
// not from its last turn, and swept after.
func TestSweepCountsAClosedSessionFromItsClose(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{SessionTTL: time.Hour, SweepInterval: time.Minute}))
	openSession(t, s, c, "s1")
	c.Advance(2 * time.Hour)
	closedAt := c.Now()
	_, err := s.CloseSession(ctx, "t", "s1", closedAt)
	require.NoError(t, err)

	require.Zero(t, s.Sweep(closedAt.Add(time.Hour)).Sessions, "kept for the TTL after its close")
	require.Equal(t, 1, s.Sweep(closedAt.Add(time.Hour+time.Second)).Sessions, "swept once the TTL after its close has passed")
	_, err = s.GetSession(ctx, "t", "s1")
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "%v", err)
}
