package memory

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// BenchmarkCommitWithIdleBacklog is a returning user's commit in a store
// holding a backlog of new users' sessions all idle for packAfter, as in
// the load bench's one-client run after the runs before it: with the
// commits packing them (backlog) or the idle worker (worker), and in a
// store holding none (none). The backlog is packPerCommit sessions per
// commit, so that every commit of a run finds as many due with no worker:
// run it with -benchtime Nx. commitMeasured is the callgrind
// --toggle-collect target.
func BenchmarkCommitWithIdleBacklog(b *testing.B) {
	for _, backlog := range []struct {
		name   string
		per    int
		worker bool
	}{{"none", 0, false}, {"backlog", packPerCommit, false}, {"worker", packPerCommit, true}} {
		b.Run(backlog.name, func(b *testing.B) {
			c := clock.NewFake()
			s := New(c, WithRetention(Retention{MaxTurns: 20}))
			if backlog.worker {
				defer s.StartIdleWork().Stop()
			}
			commitRecorded(b, s, backlog.per*b.N, 1)
			c.Advance(packAfter + time.Second)
			benchReturningCommits(b, s, c)
		})
	}
}

// benchReturningCommits times b.N turns of one returning user on s, each
// a recorded turn committed under a lease by channel key.
func benchReturningCommits(b *testing.B, s *Store, c clock.Fake) {
	ctx := context.Background()
	key := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "bench", UserChannelID: "returning"}
	req := ports.LockRequest{TenantID: "t", Candidate: domain.NewSession(footprintID(), key, c.Now()), History: 10,
		Wait: time.Second, TTL: time.Minute}
	var recorded [5]*domain.Turn
	for i := range recorded {
		recorded[i] = recordedTurn(b, i)
	}
	b.ResetTimer()
	for i := range b.N {
		l, err := s.LockSession(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		tok, turn, after := l.Token(), *recorded[i%len(recorded)], l.Session()
		after.AdvanceTurn(tok.TurnNumber, c.Now())
		turn.ID, turn.TenantID, turn.AgentID, turn.SessionID, turn.TurnNumber, turn.SessionAfter = footprintID(), "t", "a", after.ID, tok.TurnNumber, after
		if err := commitMeasured(ctx, s, tok, &turn); err != nil {
			b.Fatal(err)
		}
		_ = l.Release(ctx)
	}
	b.StopTimer()
}

//go:noinline
func commitMeasured(ctx context.Context, s *Store, tok ports.LeaseToken, turn *domain.Turn) error {
	return s.CommitTurn(ctx, tok, turn)
}

// idleBacklog commits n sessions of one turn each on s, all idle for
// packAfter once c advances by it.
func idleBacklog(t *testing.T, s *Store, n int) []*domain.Session {
	backlog := make([]*domain.Session, n)
	for i := range backlog {
		backlog[i] = committedSession(t, s, 1)
	}
	return backlog
}

// countPacked counts the sessions of backlog that s holds packed, and those
// of them that are cold.
func countPacked(s *Store, backlog []*domain.Session) (packedN, coldN int) {
	for _, sess := range backlog {
		if packed(s, sess) {
			packedN++
		}
		s.mu.Lock()
		if _, ok := s.cold.findID(sess.ID); ok {
			coldN++
		}
		s.mu.Unlock()
	}
	return packedN, coldN
}

// While an idle worker runs, a commit leaves the sessions due for packing
// to it, however many are due: it only wakes the worker, whose run then
// packs and chills them all. (The worker here is not started: the test
// runs its work where it can look before and after.)
func TestCommitLeavesIdleWorkToTheWorker(t *testing.T) {
	c := clock.NewFake()
	s := New(c)
	w := &IdleWorker{store: s, wake: make(chan struct{}, 1)}
	s.idle = w
	backlog := idleBacklog(t, s, 3*idleWakeDue)
	c.Advance(packAfter + time.Second)
	<-w.wake // the first commit's: the timer was not set

	committedSession(t, s, 1)
	require.Len(t, w.wake, 1, "a commit with sessions due wakes the worker")
	p, cold := countPacked(s, backlog)
	require.Zero(t, p, "the commit packed none")
	require.Zero(t, cold)

	s.idleRun(w)
	p, cold = countPacked(s, backlog)
	require.Equal(t, len(backlog), p, "the worker packed every session due")
	require.Equal(t, len(backlog), cold, "and chilled them")
	s.mu.Lock()
	require.True(t, w.armed, "the timer is set for the session just committed")
	s.mu.Unlock()
}

// The idle worker's timer packs the sessions that went idle even with no
// commit to wake it; once stopped, commits pack again, and Stop twice is
// harmless.
func TestIdleWorkerPacksWithoutCommits(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake()
	s := New(c)
	ran := make(chan struct{}, 1)
	w := s.startIdleWork(func() {
		select {
		case ran <- struct{}{}:
		default:
		}
	})
	defer w.Stop()
	require.Same(t, w, s.StartIdleWork(), "one worker at a time")
	backlog := idleBacklog(t, s, 5)
	// The first commit woke the worker, which sets its timer for when the
	// oldest session is due: advance past it once it is set.
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, c.BlockUntilContext(waitCtx, 1))
	c.Advance(packAfter + time.Second)
	awaitPacked(waitCtx, t, s, backlog, ran)
	_, cold := countPacked(s, backlog)
	require.Equal(t, len(backlog), cold)

	// A session going idle after that is packed by the timer too, which
	// the run its commit woke set again.
	again := idleBacklog(t, s, 1)
	waitCtx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, c.BlockUntilContext(waitCtx, 1), "the timer is set again")
	c.Advance(packAfter + time.Second)
	awaitPacked(waitCtx, t, s, again, ran)

	w.Stop()
	w.Stop()
	later := idleBacklog(t, s, 1)
	c.Advance(packAfter + time.Second)
	committedSession(t, s, 1)
	p, _ := countPacked(s, later)
	require.Equal(t, 1, p, "a store whose worker stopped packs on commits")
}

// awaitPacked waits until s holds every session of backlog packed,
// looking again after each run of the idle worker (ran).
func awaitPacked(ctx context.Context, t *testing.T, s *Store, backlog []*domain.Session, ran <-chan struct{}) {
	t.Helper()
	for {
		if p, _ := countPacked(s, backlog); p == len(backlog) {
			return
		}
		select {
		case <-ran:
		case <-ctx.Done():
			t.Fatal("the idle worker did not pack the idle sessions")
		}
	}
}

// dueBacklog is a store of n sessions, each of one turn, all due for
// packing.
func dueBacklog(t *testing.T, n int) (*Store, []*domain.Session) {
	t.Helper()
	c := clock.NewFake()
	s := New(c)
	backlog := idleBacklog(t, s, n)
	c.Advance(packAfter + time.Second)
	return s, backlog
}

// unstartedWorker is an idle worker of s whose runs the caller makes.
func unstartedWorker(s *Store) *IdleWorker {
	return &IdleWorker{store: s, wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// A run of the idle work stops between two holds of the lock once the
// worker is stopping: a backlog takes seconds to pack, and Stop (the
// application's shutdown) waits for the run in progress.
func TestIdleRunStopsBetweenHolds(t *testing.T) {
	s, backlog := dueBacklog(t, 4*idleBatch)
	w := unstartedWorker(s)
	close(w.stop)
	s.idleRun(w)
	p, _ := countPacked(s, backlog)
	require.Equal(t, idleBatch, p, "one hold's sessions")
}

// A run of the idle work pauses between two holds of the lock, once per
// hold that packed sessions, and not before compacting when no slab needs
// it: each pause costs the machine some 55 us of CPU.
func TestIdleRunPausesOncePerHold(t *testing.T) {
	s, backlog := dueBacklog(t, 3*idleBatch)
	w := unstartedWorker(s)
	s.idleRun(w)
	p, cold := countPacked(s, backlog)
	require.Equal(t, [2]int{len(backlog), len(backlog)}, [2]int{p, cold})
	s.mu.Lock()
	defer s.mu.Unlock()
	require.False(t, s.cold.compacting())
	require.Equal(t, 3, w.pauses, "one after each hold that packed a batch")
}

// PackBacklog counts the sessions queued for packing: each new session
// until the idle work packs it, whoever runs that work.
func TestPackBacklogCountsSessionsUntilPacked(t *testing.T) {
	require.Equal(t, 5*time.Second, packAfter, "docs/operations.md (focal_memory_sessions_awaiting_pack) says 5 s")
	s, backlog := dueBacklog(t, 3*idleBatch)
	require.Equal(t, len(backlog), s.PackBacklog(), "every session committed and not packed")

	w := unstartedWorker(s)
	close(w.stop) // one hold, then the run stops
	s.idleRun(w)
	require.Equal(t, len(backlog)-idleBatch, s.PackBacklog(), "a hold's sessions are packed, the rest wait")

	s.idle = nil
	committedSession(t, s, 1) // a store without a worker packs on its commits
	s.mu.Lock()
	s.pack(s.now(), math.MaxInt, math.MaxInt)
	s.mu.Unlock()
	require.Equal(t, 1, s.PackBacklog(), "only the session just used waits")
}
