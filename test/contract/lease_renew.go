package contract

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

// renewedTTL is the TTL of a lease its holder renews every renewEvery:
// short, so a holder that stops is taken over soon, but 15 renewals long,
// so a loaded machine that stalls the renewing goroutine (or the store)
// for a while does not let it lapse (600 ms flaked under -race).
const (
	renewedTTL = 1500 * time.Millisecond
	renewEvery = 100 * time.Millisecond
)

// A holder that renews keeps its lease past its TTL, token and all; once
// it stops, the lease expires and is taken over, and the old holder's
// renewals and commit are refused.
func testRenewKeepsTheLease(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	holder := f.lock(tenant, s.ID, renewedTTL)
	stop := make(chan struct{})
	renewed := make(chan error, 1)
	go func() {
		tick := time.NewTicker(renewEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				renewed <- nil
				return
			case <-tick.C:
				if err := holder.Renew(f.ctx); err != nil {
					renewed <- err
					return
				}
			}
		}
	}()
	_, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, 2*renewedTTL, longTTL))
	close(stop)
	require.NoError(t, <-renewed, "renewals of a held lease succeed")
	requireCode(t, err, domain.CodeSessionBusy, "a renewed lease is not taken over however long the wait")
	f.commitNext(holder, tenant, s.ID, "after renewals")
	f.release(holder)

	stale := f.lock(tenant, s.ID, renewedTTL)
	require.NoError(t, stale.Renew(f.ctx))
	staleTurn := nextTurn(f.get(tenant, s.ID), "too late")
	taker, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, longWait, longTTL))
	require.NoError(t, err, "a lease nobody renews is taken over")
	requireCode(t, stale.Renew(f.ctx), domain.CodeSessionBusy, "a lease taken over is not renewed")
	requireCode(t, f.Turns.CommitTurn(f.ctx, stale.Token(), staleTurn), domain.CodeSessionBusy, "nor does it commit")
	f.requireBusy(tenant, s.ID, "the refused renewal left the taker's lease alone")
	f.commitNext(taker, tenant, s.ID, "from the taker")
	f.release(taker)
	require.Equal(t, 2, f.get(tenant, s.ID).TurnCount)
}

// A released lease is not renewed, and the late renewal does not touch
// the next holder's lease.
func testRenewAfterRelease(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	first := f.lock(tenant, s.ID, longTTL)
	f.release(first)
	requireCode(t, first.Renew(f.ctx), domain.CodeSessionBusy, "renewing a released lease")
	second := f.lock(tenant, s.ID, renewedTTL)
	requireCode(t, first.Renew(f.ctx), domain.CodeSessionBusy, "renewing a lease someone else holds now")
	require.NoError(t, second.Renew(f.ctx))
	f.requireBusy(tenant, s.ID, "the next holder keeps it")
	f.release(second)
}
