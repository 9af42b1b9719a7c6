package mongo

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// Waiters on an expired lease, spread over three instances, take it over
// one at a time: a takeover never removes the lease another waiter has
// just taken (FerretDB's filtered deletes are find-then-delete), so no two
// ever hold it at once. Every holder marks its entry and exit under one
// mutex; an entry while another holds it fails the test.
func TestExpiredLeaseTakenOverByOneWaiterAtATime(t *testing.T) {
	a := newTestStore(t)
	instances := []*Store{a, sibling(t, a), sibling(t, a)}
	ctx := t.Context()
	const rounds, waiters = 4, 8
	for round := range rounds {
		k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
		sess, _, err := a.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
		require.NoError(t, err)
		// A holder that crashed: its lease runs out and is never released.
		_, err = a.LockSession(ctx, k.TenantID, sess.ID, 0, 200*time.Millisecond)
		require.NoError(t, err)

		var mu sync.Mutex
		holder := int64(0)
		var overlaps []string
		held := 0
		var wg sync.WaitGroup
		for i := range waiters {
			s := instances[i%len(instances)]
			wg.Go(func() {
				l, err := s.LockSession(ctx, k.TenantID, sess.ID, 10*time.Second, 10*time.Second)
				if !assertNoError(t, err, "round %d waiter %d", round, i) {
					return
				}
				fence := l.Token().Fence
				mu.Lock()
				if holder != 0 {
					overlaps = append(overlaps, fmt.Sprintf("fence %d entered while fence %d held the lease", fence, holder))
				}
				holder = fence
				held++
				mu.Unlock()
				time.Sleep(30 * time.Millisecond)
				mu.Lock()
				if holder == fence {
					holder = 0
				}
				mu.Unlock()
				assertNoError(t, l.Release(ctx), "release")
			})
		}
		wg.Wait()
		require.Empty(t, overlaps, "round %d: two waiters held the lease at once", round)
		require.Equal(t, waiters, held, "round %d: every waiter got the lease in turn", round)
	}
}

func assertNoError(t *testing.T, err error, msg string, args ...any) bool {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", fmt.Sprintf(msg, args...), err)
		return false
	}
	return true
}

// offsetClock is the system clock moved by an offset the test sets.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// A holder skips reading its lease back only while nobody else can hold
// it: until the lease's expiry, less the clock skew between instances,
// less the write's own deadline.
func TestLeaseHeldAloneUntilExpiryLessSkew(t *testing.T) {
	counter := &commandCounter{}
	clk := &offsetClock{}
	s := newClockedStore(t, Config{LeaseClockSkew: 5 * time.Second, OperationTimeout: 2 * time.Second}, clk,
		func(o *options.ClientOptions) { o.SetMonitor(counter.monitor()) })
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	sess, _, err := s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)
	l, err := s.LockSession(ctx, k.TenantID, sess.ID, 0, 20*time.Second)
	require.NoError(t, err)
	sess, err = s.GetSession(ctx, k.TenantID, sess.ID)
	require.NoError(t, err)

	clk.advance(12 * time.Second) // 12s + 2s of write < 20s - 5s
	cmds := counter.during(func() { require.NoError(t, s.CommitTurn(ctx, l.Token(), turnAfter(sess, 1))) })
	require.Equal(t, []string{"insert"}, cmds, "held alone: the insert decides")
	clk.advance(2 * time.Second) // 14s + 2s > 15s: a taker whose clock is 5s ahead may see it expire during the write
	cmds = counter.during(func() { require.NoError(t, s.CommitTurn(ctx, l.Token(), turnAfter(sess, 2))) })
	require.Equal(t, []string{"find", "insert"}, cmds, "near its expiry the lease is read back")
	cmds = counter.during(func() { require.NoError(t, l.Release(ctx)) })
	require.Equal(t, []string{"insert", "delete"}, cmds, "and released with the takeover marker")
	got, err := s.GetSession(ctx, k.TenantID, sess.ID)
	require.NoError(t, err)
	require.Equal(t, 2, got.TurnCount)
	next, err := s.LockSession(ctx, k.TenantID, sess.ID, 0, time.Minute)
	require.NoError(t, err, "the release freed the lease")
	require.NoError(t, next.Release(ctx))
}

// A delete waits for the turn in flight on another instance: the turn,
// which skips its lease read, commits before the delete goes on, and the
// delete then removes it. Nothing of the session is left, and the
// instance that held it finds it gone though it saw it a moment ago.
func TestDeleteSessionWaitsForTheTurnInFlight(t *testing.T) {
	a := newTestStore(t)
	b := sibling(t, a)
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	sess, _, err := a.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)
	l, err := a.LockSession(ctx, k.TenantID, sess.ID, 0, time.Minute)
	require.NoError(t, err)
	sess, err = a.GetSession(ctx, k.TenantID, sess.ID)
	require.NoError(t, err)

	deleted := make(chan error, 1)
	go func() { deleted <- b.DeleteSession(ctx, k.TenantID, sess.ID) }()
	select {
	case err := <-deleted:
		t.Fatalf("the delete did not wait for the turn in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	turn := turnAfter(sess, 1)
	require.NoError(t, a.CommitTurn(ctx, l.Token(), turn), "the turn in flight commits")
	require.NoError(t, l.Release(ctx))
	require.NoError(t, receive(t, deleted, 2*time.Second, "the delete after the release"))

	_, err = a.GetTurn(ctx, k.TenantID, turn.ID)
	require.True(t, domain.IsCode(err, domain.CodeTurnNotFound), "the turn went with its session: %v", err)
	recent, err := a.RecentHistory(ctx, k.TenantID, sess.ID, 10)
	require.NoError(t, err)
	require.Empty(t, recent)
	_, err = a.LockSession(ctx, k.TenantID, sess.ID, time.Second, time.Minute)
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "LockSession of the deleted session: %v", err)
	err = a.CommitTurn(ctx, ports.LeaseToken{}, turnAfter(sess, 2))
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "a commit without a lease: %v", err)
	err = a.CommitTurn(ctx, l.Token(), turnAfter(sess, 2))
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "a late commit under the old lease: %v", err)
}

// A delete does not wait for a dead holder longer than its lease.
func TestDeleteSessionTakesOverADeadHoldersLease(t *testing.T) {
	a := newTestStore(t)
	b := sibling(t, a)
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	sess, _, err := a.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)
	start := time.Now()
	_, err = a.LockSession(ctx, k.TenantID, sess.ID, 0, 300*time.Millisecond) // never released
	require.NoError(t, err)
	require.NoError(t, b.DeleteSession(ctx, k.TenantID, sess.ID))
	require.GreaterOrEqual(t, time.Since(start), 280*time.Millisecond, "not before the dead holder's lease ran out")
	_, err = a.GetSession(ctx, k.TenantID, sess.ID)
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound))
	require.True(t, domain.IsCode(b.DeleteSession(ctx, k.TenantID, sess.ID), domain.CodeSessionNotFound), "deleting twice")
}

func receive[T any](t *testing.T, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("%s: nothing within %s", what, within)
		panic("unreachable")
	}
}
