package contract

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var lockerCases = []testCase{
	{"AcquireAndRelease", testAcquireAndRelease},
	{"SecondCallerGetsItOnRelease", testWaiterGetsReleasedLease},
	{"WaitersInTurn", testWaitersInTurn},
	{"WaitTimeoutIsBusy", testWaitTimeout},
	{"ExpiryAndTakeover", testExpiryAndTakeover},
	{"FencingRefusesStaleHolder", testFencing},
	{"FencesNeverRepeat", testFencesNeverRepeat},
	{"ReleaseTwiceIsNoOp", testReleaseTwice},
	{"CancelWhileWaiting", testCancelWhileWaiting},
	{"SessionsAreIndependent", testIndependentLeases},
	{"UnknownSession", testLeaseUnknownSession},
	{"TenantIsolation", testLeaseTenantIsolation},
	{"RenewKeepsTheLease", testRenewKeepsTheLease},
	{"RenewAfterRelease", testRenewAfterRelease},
	{"HistoryIsTheGrants", testLeaseHistoryIsTheGrants},
	{"HistoryOfAnyLength", testLeaseHistoryOfAnyLength},
	{"RacersForAFreeLeaseOneWins", testRacersForAFreeLease},
	{"RacersForAnExpiredLeaseOneWins", testRacersForAnExpiredLease},
}

// lockAsync asks for the lease on a goroutine; the result arrives on the
// returned channel.
func (f *fixture) lockAsync(ctx context.Context, tenantID, sessionID string, wait, ttl time.Duration) <-chan result[ports.SessionLease] {
	out := make(chan result[ports.SessionLease], 1)
	go func() {
		l, err := f.Locker.LockSession(ctx, byID(tenantID, sessionID, wait, ttl))
		out <- result[ports.SessionLease]{l, err}
	}()
	return out
}

// requireBusy checks that the session's lease is held by someone else now.
func (f *fixture) requireBusy(tenantID, sessionID, why string) {
	f.t.Helper()
	l, err := f.Locker.LockSession(f.ctx, byID(tenantID, sessionID, 0, longTTL))
	if err == nil {
		_ = l.Release(f.ctx)
	}
	requireCode(f.t, err, domain.CodeSessionBusy, why)
}

// awaitWaiting waits until n callers wait for the session's lease. It
// returns false when the backend cannot tell (Stores.Waiting is nil).
func (f *fixture) awaitWaiting(tenantID, sessionID string, n int) bool {
	f.t.Helper()
	if f.Waiting == nil {
		return false
	}
	deadline := time.Now().Add(longWait)
	for f.Waiting(tenantID, sessionID) != n {
		if time.Now().After(deadline) {
			f.t.Fatalf("contract: %d callers wait for the lease of session %s, want %d", f.Waiting(tenantID, sessionID), sessionID, n)
		}
		time.Sleep(time.Millisecond)
	}
	return true
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

func testAcquireAndRelease(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	l, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, 0, longTTL))
	require.NoError(t, err, "a free lease is granted even with no wait")
	require.Equal(t, s.ID, l.Token().SessionID)
	require.NotZero(t, l.Token().Fence, "a held lease has a fence")
	f.requireBusy(tenant, s.ID, "a held lease")
	require.NoError(t, l.Release(f.ctx))

	again, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, 0, longTTL))
	require.NoError(t, err, "a released lease is free")
	require.NotEqual(t, l.Token().Fence, again.Token().Fence, "every grant has its own fence")
	f.release(again)
}

func testWaiterGetsReleasedLease(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	first := f.lock(tenant, s.ID, longTTL)
	waiting := f.lockAsync(f.ctx, tenant, s.ID, longWait, longTTL)
	// The backend that can tell says when the caller waits; for one that
	// cannot, a while without an answer stands in for it.
	patience := 150 * time.Millisecond
	if f.awaitWaiting(tenant, s.ID, 1) {
		patience = 0
	}
	select {
	case r := <-waiting:
		t.Fatalf("the second caller must wait for the holder, got %v", r.err)
	case <-time.After(patience):
	}
	f.release(first)
	r := receive(t, waiting, handoff, "the waiter after the release")
	require.NoError(t, r.err)
	require.NotEqual(t, first.Token().Fence, r.value.Token().Fence)
	f.requireBusy(tenant, s.ID, "the waiter holds it now")
	f.release(r.value)
}

func testWaitersInTurn(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	holder := f.lock(tenant, s.ID, longTTL)
	if f.Features.FIFOLease && f.Waiting == nil {
		t.Fatal("contract: Features.FIFOLease needs Stores.Waiting to define arrival order")
	}
	const waiters = 3
	var mu sync.Mutex
	var order []int
	done := make(chan error, waiters)
	for i := range waiters {
		go func() {
			l, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, 3*longWait, longTTL))
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			done <- l.Release(f.ctx)
		}()
		// Waiter i has joined the queue before waiter i+1 asks: arrival
		// order 0, 1, 2 (a backend that cannot tell promises no order).
		f.awaitWaiting(tenant, s.ID, i+1)
	}
	f.release(holder)
	for range waiters {
		require.NoError(t, receive(t, done, 3*handoff, "a waiter"))
	}
	mu.Lock()
	defer mu.Unlock()
	if f.Features.FIFOLease {
		require.Equal(t, []int{0, 1, 2}, order, "waiters get the lease in arrival order")
	} else {
		require.ElementsMatch(t, []int{0, 1, 2}, order, "every waiter gets the lease in turn")
	}
}

func testWaitTimeout(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	holder := f.lock(tenant, s.ID, longTTL)
	defer f.release(holder)

	start := time.Now()
	_, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, shortWait, longTTL))
	elapsed := time.Since(start)
	requireCode(t, err, domain.CodeSessionBusy, "the wait ran out")
	var de *domain.Error
	require.True(t, errors.As(err, &de))
	require.Positive(t, de.RetryAfter, "SESSION_BUSY says when to retry")
	require.GreaterOrEqual(t, elapsed, shortWait-20*time.Millisecond, "it waited")
	require.Less(t, elapsed, shortWait+handoff, "it gave up when the wait ran out")

	start = time.Now()
	_, err = f.Locker.LockSession(f.ctx, byID(tenant, s.ID, 0, longTTL))
	requireCode(t, err, domain.CodeSessionBusy, "no wait at all")
	require.Less(t, time.Since(start), handoff)
}

func testExpiryAndTakeover(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	start := time.Now()
	crashed := f.lock(tenant, s.ID, shortTTL) // never released
	taker, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, longWait, longTTL))
	require.NoError(t, err, "an expired lease is taken over")
	require.GreaterOrEqual(t, time.Since(start), shortTTL-20*time.Millisecond, "not before it expired")
	require.NotEqual(t, crashed.Token().Fence, taker.Token().Fence)
	f.requireBusy(tenant, s.ID, "the taker holds it")
	f.release(taker)
}

func testFencing(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	stale := f.lock(tenant, s.ID, shortTTL)
	staleTurn := nextTurn(f.get(tenant, s.ID), "from the stale holder")
	taker, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, longWait, longTTL))
	require.NoError(t, err)

	requireCode(t, f.Turns.CommitTurn(f.ctx, stale.Token(), staleTurn), domain.CodeSessionBusy, "a commit under a lease taken over")
	_, err = f.Turns.GetTurn(f.ctx, tenant, staleTurn.ID)
	requireCode(t, err, domain.CodeTurnNotFound, "the stale commit stored nothing")
	require.Zero(t, f.get(tenant, s.ID).TurnCount)

	require.NoError(t, stale.Release(f.ctx), "releasing a lease taken over is a no-op")
	f.requireBusy(tenant, s.ID, "the stale release did not free the taker's lease")
	f.commitNext(taker, tenant, s.ID, "from the taker")
	require.Equal(t, 1, f.get(tenant, s.ID).TurnCount)
	f.release(taker)
}

func testFencesNeverRepeat(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	stale := f.lock(tenant, s.ID, shortTTL)
	staleTurn := nextTurn(f.get(tenant, s.ID), "very late")
	taker, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, longWait, longTTL))
	require.NoError(t, err)
	f.release(taker) // the taker ends without a turn
	fences := map[int64]bool{stale.Token().Fence: true, taker.Token().Fence: true}
	for range 3 {
		l := f.lock(tenant, s.ID, longTTL)
		require.False(t, fences[l.Token().Fence], "fence %d handed out twice", l.Token().Fence)
		fences[l.Token().Fence] = true
		f.release(l)
	}
	current := f.lock(tenant, s.ID, longTTL)
	defer f.release(current)
	requireCode(t, f.Turns.CommitTurn(f.ctx, stale.Token(), staleTurn), domain.CodeSessionBusy,
		"a stale holder stays refused however often the lease changed hands")
	require.Zero(t, f.get(tenant, s.ID).TurnCount)
}

func testReleaseTwice(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	first := f.lock(tenant, s.ID, longTTL)
	require.NoError(t, first.Release(f.ctx))
	require.NoError(t, first.Release(f.ctx), "releasing twice is a no-op")
	second := f.lock(tenant, s.ID, longTTL)
	require.NoError(t, first.Release(f.ctx), "a late release is a no-op")
	f.requireBusy(tenant, s.ID, "a late release does not free the next holder's lease")
	f.release(second)
}

func testCancelWhileWaiting(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	holder := f.lock(tenant, s.ID, longTTL)
	ctx, cancel := context.WithCancel(f.ctx)
	waiting := f.lockAsync(ctx, tenant, s.ID, longWait, longTTL)
	if !f.awaitWaiting(tenant, s.ID, 1) {
		time.Sleep(100 * time.Millisecond) // most likely waiting by now; cancelled before is fine too
	}
	cancel()
	r := receive(t, waiting, handoff, "the cancelled waiter")
	require.Error(t, r.err, "a cancelled wait fails")
	require.True(t, isCancellation(r.err), "a cancelled wait reports the cancellation or STORE_UNAVAILABLE, got %v", r.err)
	if f.Waiting != nil {
		require.Zero(t, f.Waiting(tenant, s.ID), "the cancelled waiter left the queue")
	}

	f.release(holder)
	next, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, 0, longTTL))
	require.NoError(t, err, "the cancelled waiter left nothing holding the lease: it is free without waiting")
	f.release(next)
}

func testIndependentLeases(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	a, b := f.newSession(tenant, agent), f.newSession(tenant, agent)
	la := f.lock(tenant, a.ID, longTTL)
	defer f.release(la)
	lb, err := f.Locker.LockSession(f.ctx, byID(tenant, b.ID, 0, longTTL))
	require.NoError(t, err, "one session's lease does not hold another's")
	f.release(lb)
}

func testLeaseUnknownSession(t *testing.T, f *fixture) {
	tenant := newID()
	f.newSession(tenant, newID())
	_, err := f.Locker.LockSession(f.ctx, byID(tenant, newID(), 0, longTTL))
	requireCode(t, err, domain.CodeSessionNotFound, "LockSession of an unknown session")
	_, err = f.Locker.LockSession(f.ctx, byID(tenant, newID(), shortWait, longTTL))
	requireCode(t, err, domain.CodeSessionNotFound, "LockSession of an unknown session, with a wait")
}

func testLeaseTenantIsolation(t *testing.T, f *fixture) {
	mine, theirs := newID(), newID()
	s := f.newSession(mine, newID())
	_, errOther := f.Locker.LockSession(f.ctx, byID(theirs, s.ID, 0, longTTL))
	_, errMissing := f.Locker.LockSession(f.ctx, byID(theirs, newID(), 0, longTTL))
	requireCode(t, errOther, domain.CodeSessionNotFound, "LockSession across tenants")
	requireSameAsMissing(t, errOther, errMissing, "LockSession")
	l, err := f.Locker.LockSession(f.ctx, byID(mine, s.ID, 0, longTTL))
	require.NoError(t, err, "their attempt did not take my lease")
	f.release(l)
}
