package contract

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// Lease races: callers released at once on one barrier (race) ask for one
// session's lease, round after round. However their reads and writes
// interleave, exactly one is granted in each round and every other hears
// SESSION_BUSY: the winner still holds the lease when the round's last
// caller returns, so a second grant can only be a double grant.

const (
	raceRounds  = 20 // rounds for a free lease
	racers      = 8  // callers in each round
	expiryRaces = 1  // rounds for an expired lease (each waits out its racers' wait)
)

// raceForLease runs n callers of req at once and returns the one lease
// granted, failing the test unless exactly one was, or unless every other
// caller was refused as busy.
func (f *fixture) raceForLease(req ports.LockRequest, round int) ports.SessionLease {
	f.t.Helper()
	results := race(racers, func(int) (ports.SessionLease, error) {
		return f.Locker.LockSession(f.ctx, req)
	})
	var won []ports.SessionLease
	for _, r := range results {
		if r.err == nil {
			won = append(won, r.value)
			continue
		}
		requireCode(f.t, r.err, domain.CodeSessionBusy, fmt.Sprintf("round %d: a caller that did not win", round))
	}
	for _, l := range won[min(1, len(won)):] {
		_ = l.Release(f.ctx)
	}
	require.Len(f.t, won, 1, "round %d: exactly one of %d callers racing for a lease is granted it", round, racers)
	return won[0]
}

// Callers racing for a free lease, none willing to wait: one wins, the
// others are busy. The next round races for the lease the winner released.
func testRacersForAFreeLease(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	fences := map[int64]bool{}
	for round := range raceRounds {
		l := f.raceForLease(byID(tenant, s.ID, 0, longTTL), round)
		require.Equal(t, s.ID, l.Token().SessionID)
		require.False(t, fences[l.Token().Fence], "round %d: fence %d handed out twice", round, l.Token().Fence)
		fences[l.Token().Fence] = true
		f.release(l)
	}
}

// Callers waiting on a lease whose holder stopped race to take it over
// once it expires: one wins, and it still holds the lease when the others'
// waits end. The waits are long (a loaded machine may notice the expiry
// late) and every loser waits its whole wait, so one round.
func testRacersForAnExpiredLease(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	for round := range expiryRaces {
		stopped := f.lock(tenant, s.ID, shortTTL) // never released
		l := f.raceForLease(byID(tenant, s.ID, shortTTL+longWait, longTTL), round)
		require.NotEqual(t, stopped.Token().Fence, l.Token().Fence, "round %d: the winner took the lease over", round)
		f.release(l)
	}
}
