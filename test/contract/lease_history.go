package contract

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// leaseOutlivedByATurn commits n turns to a fresh session, then takes a
// lease (asking for 2n turns of history) whose holder stops: the next
// caller takes it over once it expires and commits turn n+1. It returns
// the session, the n turns and the stopped holder's lease, still unreleased.
func (f *fixture) leaseOutlivedByATurn(tenant string, n int) (*domain.Session, []*domain.Turn, ports.SessionLease) {
	f.t.Helper()
	s := f.newSession(tenant, newID())
	committed := f.turns(tenant, s.ID, n)
	req := byID(tenant, s.ID, longWait, shortTTL)
	req.History = 2 * n
	stuck, err := f.Locker.LockSession(f.ctx, req)
	require.NoError(f.t, err)
	taker := f.lock(tenant, s.ID, longTTL) // once the stuck lease expired
	f.commitNext(taker, tenant, s.ID, "after the takeover")
	f.release(taker)
	return s, committed, stuck
}

// requireGrantedHistory checks that l's session and history are those of
// its grant: the turns committed before it.
func requireGrantedHistory(t *testing.T, l ports.SessionLease, before []*domain.Turn) {
	t.Helper()
	want := make([]domain.HistoryEntry, len(before))
	for i, turn := range before {
		want[i] = turn.History()
	}
	require.Equal(t, want, l.History(), "the history as of the grant")
	require.Equal(t, len(before), l.Session().TurnCount, "the session as of the grant")
}

// A lease's session and history are those of its grant: a turn committed
// after it (by whoever took the lease over) changes neither.
func testLeaseHistoryIsTheGrants(t *testing.T, f *fixture) {
	tenant := newID()
	s, before, stuck := f.leaseOutlivedByATurn(tenant, 3)
	require.Equal(t, 4, f.get(tenant, s.ID).TurnCount)
	requireGrantedHistory(t, stuck, before)
	require.NoError(t, stuck.Release(f.ctx))
}

// A lease carries as many of the newest turns as asked for, however many
// that is: what RecentHistory gives for the same number.
func testLeaseHistoryOfAnyLength(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	const total = domain.DefaultHistoryTurns + 4
	f.turns(tenant, s.ID, total)
	for _, n := range []int{1, domain.DefaultHistoryTurns, domain.DefaultHistoryTurns + 1, total + 5} {
		req := byID(tenant, s.ID, longWait, longTTL)
		req.History = n
		l, err := f.Locker.LockSession(f.ctx, req)
		require.NoError(t, err)
		want, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, n)
		require.NoError(t, err)
		require.Len(t, want, min(n, total), "RecentHistory of %d", n)
		require.Equal(t, want, l.History(), fmt.Sprintf("a lease's history of %d", n))
		f.release(l)
	}
}
