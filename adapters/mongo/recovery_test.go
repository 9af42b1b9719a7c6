package mongo

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// A delete that died after it closed and sealed the session is finished by
// the next one; the channel key was freed by the close.
func TestDeleteFinishesAfterADeleteDiedHalfway(t *testing.T) {
	db := testDB(t)
	s := storesOf(db)
	ctx := t.Context()
	k, sess := newUserSession(t, s.leases)
	_, err := db.markClosed(ctx, k.TenantID, sess.ID, time.Now(), nil)
	require.NoError(t, err)
	require.NoError(t, db.sealLease(ctx, k.TenantID, sess.ID))

	next := lockByKey(t, s.leases, k, 0)
	require.True(t, next.Created(), "the close freed the key")
	require.NoError(t, next.Release(ctx))
	_, err = s.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, time.Minute))
	requireCode(t, err, domain.CodeSessionNotFound, "a sealed session takes no lease")

	require.NoError(t, s.sessions.DeleteSession(ctx, k.TenantID, sess.ID), "the second delete finishes")
	_, err = s.sessions.GetSession(ctx, k.TenantID, sess.ID)
	requireCode(t, err, domain.CodeSessionNotFound, "the session is gone")
	_, err = s.sessions.GetSession(ctx, k.TenantID, next.Session().ID)
	require.NoError(t, err, "its successor stays")
}

// A deleted session's lease stays sealed: a lease write for its next turn,
// as a lock that read the session before the delete would send, is
// refused, so no turn can commit into the deleted session.
func TestDeletedSessionsLeaseStaysSealed(t *testing.T) {
	db := testDB(t)
	s := storesOf(db)
	ctx := t.Context()
	k, sess := newUserSession(t, s.leases)
	require.NoError(t, s.sessions.DeleteSession(ctx, k.TenantID, sess.ID))

	g, err := db.tryLease(ctx, leaseWrite{tenantID: k.TenantID, sessionID: sess.ID, turn: 1, ttl: time.Minute})
	require.NoError(t, err)
	require.Nil(t, g, "the lease of the deleted session's next turn is granted")
}

// A delete that dies part-way (here as it seals the lease) has closed the
// session first: the user's channel key is free, and their next message
// starts a new session instead of meeting the half-deleted one.
func TestDeleteThatDiesPartWayFreesTheKey(t *testing.T) {
	var stop atomic.Pointer[context.CancelFunc]
	db := testDB(t, WithCommandObserver(func(e CommandEvent) {
		if e.Name == "insert" { // the seal: the delete's caller gives up as it lands
			if cancel := stop.Swap(nil); cancel != nil {
				(*cancel)()
			}
		}
	}))
	s := storesOf(db)
	k, sess := newUserSession(t, s.leases)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop.Store(&cancel)
	require.Error(t, s.sessions.DeleteSession(ctx, k.TenantID, sess.ID), "the delete dies part-way")

	next := lockByKey(t, s.leases, k, 0)
	require.True(t, next.Created(), "the user's next message starts a new session")
	require.NotEqual(t, sess.ID, next.Session().ID)
	require.NoError(t, next.Release(t.Context()))
}

// A close made by another instance while a turn runs shows in the turn
// read back, from either instance, as a close made by this one does; the
// commit's answer cannot show it (its one insert reads nothing), and says
// the session as the turn built it. A turn committed before the close
// reads back active.
func TestCloseByAnotherInstanceShowsInTheTurnRead(t *testing.T) {
	db := testDB(t)
	s, other := storesOf(db), storesOf(sibling(t, db))
	ctx := t.Context()
	k, sess := newUserSession(t, s.leases)
	first := lockByKey(t, s.leases, k, 0)
	before := turnAfter(first.Session(), 1)
	require.NoError(t, s.turns.CommitTurn(ctx, first.Token(), before))
	require.NoError(t, first.Release(ctx))

	lease := lockByKey(t, s.leases, k, 0)
	turn := turnAfter(lease.Session(), 2)
	at := turn.SessionAfter.UpdatedAt.Add(time.Second)
	_, err := other.sessions.CloseSession(ctx, k.TenantID, sess.ID, at)
	require.NoError(t, err)
	require.NoError(t, s.turns.CommitTurn(ctx, lease.Token(), turn))
	require.NoError(t, lease.Release(ctx))
	require.Equal(t, domain.SessionActive, turn.SessionAfter.Status, "the commit's answer: the session as the turn built it")

	stored, err := s.sessions.GetSession(ctx, k.TenantID, sess.ID)
	require.NoError(t, err)
	for name, st := range map[string]stores{"this instance": s, "the closing one": other} {
		got, err := st.turns.GetTurn(ctx, k.TenantID, turn.ID)
		require.NoError(t, err)
		require.Equal(t, domain.SessionClosed, got.SessionAfter.Status, name)
		require.Equal(t, stored.Version, got.SessionAfter.Version, "%s: the turn and the close", name)
		require.True(t, got.SessionAfter.UpdatedAt.Equal(at), "%s: updated_at moved to the close", name)
		page, err := st.turns.ListTurns(ctx, k.TenantID, sess.ID, ports.TurnQuery{})
		require.NoError(t, err)
		require.Len(t, page.Items, 2)
		require.Equal(t, domain.SessionActive, page.Items[0].SessionAfter.Status, "%s: the turn before the close", name)
		require.Equal(t, domain.SessionClosed, page.Items[1].SessionAfter.Status, name)
		older, err := st.turns.GetTurn(ctx, k.TenantID, before.ID)
		require.NoError(t, err)
		require.Equal(t, domain.SessionActive, older.SessionAfter.Status, "%s: the turn before the close", name)
	}
}

// A turn committed between the close's read of the session and its update
// (another instance held the lease) was committed before the close landed:
// it reads back with the session active, the close's answer counts it,
// and only a turn committed after the close reads back closed.
func TestTurnCommittedDuringACloseReadsBackBeforeIt(t *testing.T) {
	db := testDB(t)
	s := storesOf(db)
	ctx := t.Context()
	var beforeUpdate atomic.Pointer[func()]
	closer := storesOf(sibling(t, db, WithCommandHook(func(name string) {
		if name == "update" { // the close's update, sent after its read
			if fn := beforeUpdate.Swap(nil); fn != nil {
				(*fn)()
			}
		}
	})))
	k, sess := newUserSession(t, s.leases)
	first := lockByKey(t, s.leases, k, 0)
	during := turnAfter(first.Session(), 1)
	var next ports.SessionLease
	commit := func() {
		require.NoError(t, s.turns.CommitTurn(ctx, first.Token(), during))
		require.NoError(t, first.Release(ctx))
		next = lockByKey(t, s.leases, k, 0)
	}
	beforeUpdate.Store(&commit)

	at := during.SessionAfter.UpdatedAt.Add(time.Second)
	closed, err := closer.sessions.CloseSession(ctx, k.TenantID, sess.ID, at)
	require.NoError(t, err)
	require.Nil(t, beforeUpdate.Load(), "the turn committed during the close")
	require.Equal(t, domain.SessionClosed, closed.Status)
	require.Equal(t, 1, closed.TurnCount, "the close's answer counts the turn")
	after := turnAfter(next.Session(), 2)
	require.NoError(t, s.turns.CommitTurn(ctx, next.Token(), after))
	require.NoError(t, next.Release(ctx))

	stored, err := s.sessions.GetSession(ctx, k.TenantID, sess.ID)
	require.NoError(t, err)
	for name, st := range map[string]stores{"the committing instance": s, "the closing one": closer} {
		got, err := st.turns.GetTurn(ctx, k.TenantID, during.ID)
		require.NoError(t, err)
		require.Equal(t, domain.SessionActive, got.SessionAfter.Status, "%s: the turn committed before the close's update", name)
		require.Nil(t, got.SessionAfter.ClosedAt, name)
		got, err = st.turns.GetTurn(ctx, k.TenantID, after.ID)
		require.NoError(t, err)
		require.Equal(t, domain.SessionClosed, got.SessionAfter.Status, "%s: the turn committed after the close", name)
		require.Equal(t, stored.Version, got.SessionAfter.Version, "%s: the turn and the close", name)
	}
}
