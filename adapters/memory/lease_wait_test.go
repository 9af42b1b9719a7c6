package memory

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// heldLease locks the new session s1 of tenant t for ttl.
func heldLease(t *testing.T, s *Store, ttl time.Duration) ports.SessionLease {
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}
	l, err := s.LockSession(t.Context(), ports.LockRequest{TenantID: "t", Candidate: domain.NewSession("s1", k, time.Now()),
		Wait: time.Second, TTL: ttl})
	require.NoError(t, err)
	return l
}

// awaitLeaseWaiter asks for the lease of s1 on a goroutine of its own,
// and returns once LeaseWaiters says it waits; the error it gets is sent.
func awaitLeaseWaiter(t *testing.T, s *Store, wait time.Duration) <-chan error {
	out := make(chan error, 1)
	go func() {
		_, err := s.LockSession(t.Context(), ports.LockRequest{TenantID: "t", SessionID: "s1", Wait: wait, TTL: time.Minute})
		out <- err
	}()
	for s.LeaseWaiters("s1") == 0 {
		runtime.Gosched()
	}
	return out
}

// A waiter whose wait or request ends at the very moment the lease is
// handed to it passes the lease on: the next caller gets it at once,
// instead of finding it held by nobody until it expires.
func TestAWaiterGivingUpPassesOnItsHandover(t *testing.T) {
	ctx := t.Context()
	s := New(clock.NewFake())
	holder := heldLease(t, s, time.Hour)
	// A waiter queued behind the holder, as lock queues one.
	w := &leaseWaiter{ttl: time.Hour, granted: make(chan int64, 1)}
	s.mu.Lock()
	l := s.leases["s1"]
	l.waiters = append(l.waiters, w)
	s.mu.Unlock()

	require.NoError(t, holder.Release(ctx)) // handed to w
	require.Len(t, w.granted, 1)
	s.abandon(ctx, l, w, "s1") // w's wait ended just then
	next, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", SessionID: "s1", TTL: time.Minute})
	require.NoError(t, err, "the lease w gave up is free")
	require.NoError(t, next.Release(ctx))
}

// A waiter that finds the session deleted once the lease comes to it
// passes the lease on, so that no lease record outlives the session.
func TestAWaiterForADeletedSessionLetsTheLeaseGo(t *testing.T) {
	ctx := t.Context()
	s := New(clock.NewFake())
	holder := heldLease(t, s, time.Hour)
	waiter := awaitLeaseWaiter(t, s, time.Minute)
	require.NoError(t, s.DeleteSession(ctx, "t", "s1"))
	require.NoError(t, holder.Release(ctx))
	err := <-waiter
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "%v", err)
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Empty(t, s.leases, "no lease record outlives the session")
}

// A waiter takes over a lease whose holder renewed it a few times after
// the waiter came and then stopped (a turn that hung): each time the
// expiry it waits for turns out renewed, it waits for the new one, rather
// than for the end of its wait. Its waits are on the store's clock.
func TestAWaiterTakesOverALeaseRenewedThenLapsed(t *testing.T) {
	c := clock.NewFake()
	s := New(c)
	holder := heldLease(t, s, 300*time.Millisecond)
	waiter := awaitLeaseWaiter(t, s, 10*time.Second)
	// A waiter waits on two timers: the end of its wait, and the expiry.
	waitsForTheExpiry := func(why string) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.BlockUntilContext(ctx, 2), why)
	}
	waitsForTheExpiry("the waiter waits for the lease's expiry on the store's clock")
	for range 5 { // past the first expiry the waiter waited for
		c.Advance(100 * time.Millisecond)
		require.NoError(t, holder.Renew(t.Context()), "a lease renewed before it expires stays its holder's")
	}
	waitsForTheExpiry("the waiter waits for the renewed expiry")
	c.Advance(time.Second) // past the last renewal's expiry, well before the end of the wait
	// Waiting only for the end of its wait, it would still wait.
	require.NoError(t, <-waiter, "the lapsed lease is taken over within the waiter's wait")
}
