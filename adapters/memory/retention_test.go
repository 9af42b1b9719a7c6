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

// firstTurn commits, at at in store time (the fake clock's), the first
// turn of a new session created then, answering the keyed request
// request unless it is "".
func firstTurn(t *testing.T, s *Store, at time.Time, request string) (*domain.Turn, error) {
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: footprintID()}
	l, err := s.LockSession(t.Context(), ports.LockRequest{TenantID: "t", Candidate: domain.NewSession(footprintID(), k, at),
		Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Release(t.Context())) }()
	after := l.Session()
	after.AdvanceTurn(1, at)
	turn := &domain.Turn{ID: footprintID(), TenantID: "t", AgentID: "a", SessionID: after.ID, TurnNumber: 1, KeyedRequest: request,
		Message: "hello", Response: "hi", Status: domain.TurnCompleted, Explanation: domain.NewExplanation(), SessionAfter: after}
	return turn, s.CommitTurn(t.Context(), l.Token(), turn)
}

// committedAt stores a session whose one turn was committed at at, in
// store time, as a returning user's.
func committedAt(t *testing.T, s *Store, at time.Time) *domain.Session {
	turn, err := firstTurn(t, s, at, "")
	require.NoError(t, err)
	return turn.SessionAfter
}

// A session whose holder stopped renewing its lease (a hung or crashed
// turn) is evicted once both the TTL and the lease have run out, and its
// lease record goes with it: abandoned leases do not make a long-running
// store grow. The holder's late release changes nothing.
func TestSweepForgetsTheLapsedLeaseOfAnEvictedSession(t *testing.T) {
	ctx := t.Context()
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{SessionTTL: time.Hour, SweepInterval: time.Minute}))
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}
	stuck, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", Candidate: domain.NewSession("s1", k, c.Now()),
		Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)

	require.Equal(t, 1, s.Sweep(c.Now().Add(2*time.Hour)).Sessions)
	_, err = s.GetSession(ctx, "t", "s1")
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "%v", err)
	s.mu.Lock()
	leases := len(s.leases)
	s.mu.Unlock()
	require.Zero(t, leases, "the evicted session's lease record is forgotten")
	require.NoError(t, stuck.Release(ctx))
}

// A session a turn last read or locked within the TTL is kept, however
// old its last committed turn: a client reading the session, or a user
// whose turn failed before its commit, is using it.
func TestSweepKeepsASessionReadOrLockedWithinTheTTL(t *testing.T) {
	const ttl = time.Hour
	for _, use := range []struct {
		name string
		use  func(t *testing.T, s *Store, sess *domain.Session)
	}{
		{"read", func(t *testing.T, s *Store, sess *domain.Session) {
			_, err := s.GetSession(t.Context(), sess.TenantID, sess.ID)
			require.NoError(t, err)
		}},
		{"locked, no commit", func(t *testing.T, s *Store, sess *domain.Session) {
			l, err := s.LockSession(t.Context(), ports.LockRequest{TenantID: sess.TenantID,
				Candidate: domain.NewSession("other", sess.Key(), time.Now()), Wait: time.Second, TTL: time.Minute})
			require.NoError(t, err)
			require.Equal(t, sess.ID, l.Session().ID)
			require.NoError(t, l.Release(t.Context()))
		}},
	} {
		c := clock.NewFake()
		s := New(c, WithRetention(Retention{SessionTTL: ttl, SweepInterval: time.Minute}))
		sess := committedAt(t, s, c.Now())
		c.Advance(ttl / 2)
		use.use(t, s, sess)
		s.Sweep(c.Now().Add(ttl/2 + time.Second))
		_, err := s.GetSession(t.Context(), sess.TenantID, sess.ID)
		require.NoError(t, err, "%s within the TTL: kept", use.name)
	}
}

// A packed session is kept as long as one in use: for the whole TTL after
// its last use, and no longer.
func TestSweepKeepsAPackedSessionForTheWholeTTL(t *testing.T) {
	const ttl = time.Hour
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{SessionTTL: ttl, SweepInterval: time.Minute}))
	used := c.Now()
	sess := committedAt(t, s, used)
	s.Sweep(used.Add(packAfter + time.Second))
	s.mu.Lock()
	_, cold := s.cold.findID(sess.ID)
	s.mu.Unlock()
	require.True(t, cold, "unused for packAfter: packed and cold")
	require.Zero(t, s.Sweep(used.Add(ttl)).Sessions, "kept for the whole TTL")
	require.Equal(t, SweepStats{Sessions: 1, Turns: 1}, s.Sweep(used.Add(ttl+time.Nanosecond)), "evicted past it")
}

// A keyed request is held answered only while its answering turn is kept:
// once MaxTurns drops that turn, the store forgets the request too, so
// the index of answered requests does not grow with every keyed turn a
// long-running store ever committed.
func TestDroppedTurnLeavesNoAnsweredRequest(t *testing.T) {
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: 1}))
	answer, err := firstTurn(t, s, c.Now(), "request-1")
	require.NoError(t, err)
	l, err := s.LockSession(t.Context(), ports.LockRequest{TenantID: "t", SessionID: answer.SessionID, Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	after := l.Session()
	after.AdvanceTurn(2, c.Now())
	next := &domain.Turn{ID: footprintID(), TenantID: "t", AgentID: "a", SessionID: after.ID, TurnNumber: 2,
		Message: "again", Response: "hi", Status: domain.TurnCompleted, Explanation: domain.NewExplanation(), SessionAfter: after}
	require.NoError(t, s.CommitTurn(t.Context(), l.Token(), next))
	require.NoError(t, l.Release(t.Context()))

	_, err = s.GetTurn(t.Context(), "t", answer.ID)
	require.True(t, domain.IsCode(err, domain.CodeTurnNotFound), "retention dropped the answer: %v", err)
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Empty(t, s.answered, "nor holds its request")
}
