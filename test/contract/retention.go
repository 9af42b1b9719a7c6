package contract

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// Retention says how a backend that bounds what it keeps is configured for
// the retention cases.
type Retention struct {
	// SessionTTL: a session neither used by a turn (found, read, locked or
	// committed to) nor changed for longer than this may be evicted with
	// its turns by a sweep.
	SessionTTL time.Duration
	// MaxTurns: at most this many turns are kept per session, never fewer
	// than the newest MaxTurns.
	MaxTurns int
}

// Retaining is what Features.Retention opens: stores bounded by the
// Retention asked for, and a sweep that evicts, as of now, what that
// retention lets go. Stores.Waiting, when set, lets the cases check that a
// session whose lease a turn waits for is kept; without it they cannot
// tell when a turn waits, and that case checks nothing.
type Retaining struct {
	Stores
	Sweep func(now time.Time)
}

// The retention cases state what eviction may and may not drop:
//   - it may drop a session unused for longer than SessionTTL, with its
//     turns; its channel identity then opens a new session;
//   - it never drops a session whose lease is held and unexpired (a turn
//     in flight renews it), nor one whose lease a turn waits for, nor one
//     used within SessionTTL, however old its last turn; a close is a
//     change, at the time CloseSession was given;
//   - an expired lease that no turn waits for keeps nothing: its session
//     goes once unused for longer than SessionTTL;
//   - it keeps the newest MaxTurns turns of every session, and turn
//     numbering, paging and history go on correctly after older turns are
//     dropped;
//   - a lease's history is that of its grant, turns dropped since
//     included;
//   - expired idempotency records are dropped, live ones are not.
var retentionCases = []struct {
	name string
	run  func(t *testing.T, f *fixture, sweep func(time.Time), r Retention)
}{
	{"KeepsTheNewestTurnsAndNumbersOn", testRetentionKeepsNewestTurns},
	{"EvictsOnlyUnusedSessions", testRetentionEvictsUnusedSessions},
	{"NeverEvictsATurnInFlight", testRetentionSparesTurnInFlight},
	{"SweepsExpiredIdempotencyRecords", testRetentionSweepsIdempotency},
	{"NeverEvictsASessionATurnWaitsFor", testRetentionSparesAwaitedSession},
	{"CountsAClosedSessionFromItsClose", testRetentionCountsFromTheClose},
	{"KeepsTheHistoryOfALease", testRetentionKeepsTheLeaseHistory},
	{"ALapsedLeaseKeepsNothing", testRetentionLapsedLeaseKeepsNothing},
}

// retentionUnderTest is what the retention cases ask a backend for.
var retentionUnderTest = Retention{SessionTTL: time.Hour, MaxTurns: 4}

// runRetentionCases runs the retention cases when the backend declares
// retention; a backend that keeps everything has none to run (no skipped
// tests: make test refuses skips outside its allow list).
func runRetentionCases(t *testing.T, factory func(t *testing.T) Stores) {
	if factory(t).Features.Retention == nil {
		t.Log("contract: Features.Retention is nil (the backend keeps everything): no retention cases")
		return
	}
	for _, c := range retentionCases {
		t.Run(c.name, func(t *testing.T) {
			r := factory(t).Features.Retention(t, retentionUnderTest)
			c.run(t, newFixture(t, r.Stores), r.Sweep, retentionUnderTest)
		})
	}
}

func testRetentionKeepsNewestTurns(t *testing.T, f *fixture, _ func(time.Time), r Retention) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	all := f.turns(tenant, s.ID, r.MaxTurns+3)
	total := len(all)

	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{Page: ports.PageRequest{Limit: ports.MaxPageSize}})
	require.NoError(t, err)
	want := []int{}
	for n := total - r.MaxTurns + 1; n <= total; n++ {
		want = append(want, n)
	}
	require.Equal(t, want, turnNumbers(page.Items), "exactly the newest MaxTurns turns are kept")
	_, err = f.Turns.GetTurn(f.ctx, tenant, all[0].ID)
	requireCode(t, err, domain.CodeTurnNotFound, "the oldest turn was dropped")
	for _, kept := range all[total-r.MaxTurns:] {
		got, err := f.Turns.GetTurn(f.ctx, tenant, kept.ID)
		require.NoError(t, err, "a kept turn")
		require.Equal(t, kept.Message, got.Message)
	}

	// Paging both ways walks the kept turns, a cursor at a dropped number
	// included.
	var pages [][]int
	q := ports.TurnQuery{Order: ports.OrderDesc, Page: ports.PageRequest{Limit: 3}}
	for {
		page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, q)
		require.NoError(t, err)
		pages = append(pages, turnNumbers(page.Items))
		if page.NextCursor == "" {
			break
		}
		q.Page.Cursor = page.NextCursor
	}
	require.Equal(t, [][]int{{total, total - 1, total - 2}, {total - 3}}, pages, "newest first, in pages of 3")
	fromDropped, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{Page: ports.PageRequest{Cursor: ports.TurnCursors.Cursor(tenant, s.ID, 1)}})
	require.NoError(t, err)
	require.Equal(t, want, turnNumbers(fromDropped.Items), "ascending from a dropped number resumes at the oldest kept")

	history, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, 2*r.MaxTurns)
	require.NoError(t, err)
	require.Equal(t, want, historyNumbers(history), "history holds the kept turns")

	st := f.get(tenant, s.ID)
	require.Equal(t, total, st.TurnCount, "the turn count counts dropped turns too")
	l := f.lock(tenant, s.ID, longTTL)
	defer f.release(l)
	stale := nextTurn(st, "a taken number")
	stale.TurnNumber = 2
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), stale), domain.CodeSessionBusy, "a dropped turn's number is still taken")
	next := f.commitNext(l, tenant, s.ID, "numbering goes on")
	require.Equal(t, total+1, next.TurnNumber)
	history, err = f.Turns.RecentHistory(f.ctx, tenant, s.ID, 1)
	require.NoError(t, err)
	require.Equal(t, "numbering goes on", history[0].Message)
}

func testRetentionEvictsUnusedSessions(t *testing.T, f *fixture, sweep func(time.Time), r Retention) {
	tenant, agent := newID(), newID()
	oldKey := key(tenant, agent)
	old := f.sessionAt(oldKey, time.Now())
	oldTurns := f.turns(tenant, old.ID, 2)
	closed := f.newSession(tenant, agent)
	_, err := f.Sessions.CloseSession(f.ctx, tenant, closed.ID, time.Now())
	require.NoError(t, err)
	// A session whose last turn is long past, used again just now.
	recentKey := key(tenant, agent)
	stale := f.sessionAt(recentKey, time.Now().Add(-3*r.SessionTTL))

	sweep(time.Now().Add(r.SessionTTL / 2))
	for _, id := range []string{old.ID, closed.ID, stale.ID} {
		f.get(tenant, id) // nothing was unused for a whole TTL yet
	}

	later := time.Now().Add(r.SessionTTL / 2)
	sweep(later.Add(r.SessionTTL / 2).Add(time.Minute))
	for _, id := range []string{old.ID, closed.ID, stale.ID} {
		_, err := f.Sessions.GetSession(f.ctx, tenant, id)
		requireCode(t, err, domain.CodeSessionNotFound, "a session unused for longer than the TTL is evicted")
	}
	for _, turn := range oldTurns {
		_, err := f.Turns.GetTurn(f.ctx, tenant, turn.ID)
		requireCode(t, err, domain.CodeTurnNotFound, "an evicted session's turns go with it")
	}
	history, err := f.Turns.RecentHistory(f.ctx, tenant, old.ID, 10)
	require.NoError(t, err)
	require.Empty(t, history)

	fresh, created := f.findOrCreate(oldKey)
	require.True(t, created, "the evicted session's channel identity opens a new session")
	require.Zero(t, fresh.TurnCount)
	f.turns(tenant, fresh.ID, 1)
}

func testRetentionSparesTurnInFlight(t *testing.T, f *fixture, sweep func(time.Time), r Retention) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	f.turns(tenant, s.ID, 1)
	// A holder renews its lease while its turn runs: at the sweep's time
	// the lease is still unexpired.
	l := f.lock(tenant, s.ID, 3*r.SessionTTL)

	sweep(time.Now().Add(2 * r.SessionTTL))
	f.get(tenant, s.ID) // the turn in flight keeps it
	f.commitNext(l, tenant, s.ID, "committed after the sweep")
	f.release(l)
	require.Equal(t, 2, f.get(tenant, s.ID).TurnCount)

	sweep(time.Now().Add(2 * r.SessionTTL))
	_, err := f.Sessions.GetSession(f.ctx, tenant, s.ID)
	requireCode(t, err, domain.CodeSessionNotFound, "once released and unused, it may go")
}

func testRetentionSweepsIdempotency(t *testing.T, f *fixture, sweep func(time.Time), _ Retention) {
	if f.Idempotency == nil {
		t.Log("contract: Stores.Idempotency is nil: nothing to sweep")
		return
	}
	tenant := newID()
	short := claimOf(tenant, "short-"+newID(), time.Minute)
	long := claimOf(tenant, "long-"+newID(), 3*time.Hour)
	f.claim(short)
	f.claim(long)
	sweep(time.Now().Add(2 * time.Hour))
	require.Nil(t, f.getIdem(tenant, short.Key), "an expired record is dropped")
	require.NotNil(t, f.getIdem(tenant, long.Key), "a live record is kept")
}

// A turn waiting for a session's lease keeps the session, even when it
// has been idle past the TTL and its holder's lease expired: the waiter
// gets the lease, and the session, once the holder lets go.
func testRetentionSparesAwaitedSession(t *testing.T, f *fixture, sweep func(time.Time), r Retention) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	holder := f.lock(tenant, s.ID, longTTL)
	waiter := f.lockAsync(f.ctx, tenant, s.ID, longWait, longTTL)
	if !f.awaitWaiting(tenant, s.ID, 1) {
		f.release(holder)
		got := receive(t, waiter, longWait, "the waiter")
		require.NoError(t, got.err)
		f.release(got.value)
		t.Log("contract: Stores.Waiting is nil: cannot tell when a turn waits for the lease")
		return
	}

	sweep(time.Now().Add(2 * r.SessionTTL)) // idle past the TTL; the holder's lease expired
	f.get(tenant, s.ID)
	f.release(holder)
	got := receive(t, waiter, handoff, "the waiter after the release")
	require.NoError(t, got.err, "the waiter gets the lease")
	require.Equal(t, s.ID, got.value.Session().ID)
	f.commitNext(got.value, tenant, s.ID, "after the sweep")
	f.release(got.value)
	require.Equal(t, 1, f.get(tenant, s.ID).TurnCount)
}

// A session closed after a long idle is kept for the TTL from its close,
// not from its last use, and may be evicted after.
func testRetentionCountsFromTheClose(t *testing.T, f *fixture, sweep func(time.Time), r Retention) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	closedAt := time.Now().Add(2 * r.SessionTTL)
	_, err := f.Sessions.CloseSession(f.ctx, tenant, s.ID, closedAt)
	require.NoError(t, err)

	sweep(closedAt.Add(r.SessionTTL))
	require.Equal(t, domain.SessionClosed, f.get(tenant, s.ID).Status, "kept for the TTL after its close")
	sweep(closedAt.Add(r.SessionTTL + time.Second))
	_, err = f.Sessions.GetSession(f.ctx, tenant, s.ID)
	requireCode(t, err, domain.CodeSessionNotFound, "evicted once the TTL after its close has passed")
}

// A lease's history outlives retention of the turns in it: the stopped
// holder's lease still reads the turns of its grant after the taker's
// commit dropped the oldest.
func testRetentionKeepsTheLeaseHistory(t *testing.T, f *fixture, _ func(time.Time), r Retention) {
	tenant := newID()
	s, before, stuck := f.leaseOutlivedByATurn(tenant, r.MaxTurns)
	recent, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, 2*r.MaxTurns)
	require.NoError(t, err)
	require.Equal(t, before[1].TurnNumber, recent[0].TurnNumber, "retention dropped the first turn")
	requireGrantedHistory(t, stuck, before)
	require.NoError(t, stuck.Release(f.ctx))
}

// A lease its holder stopped renewing (a hung or crashed turn) keeps its
// session no longer than the lease lasts: once it expired, with no turn
// waiting, the session goes like any unused one, and the stuck holder's
// late release is harmless.
func testRetentionLapsedLeaseKeepsNothing(t *testing.T, f *fixture, sweep func(time.Time), r Retention) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	stuck := f.lock(tenant, s.ID, shortTTL)
	sweep(time.Now().Add(2 * r.SessionTTL))
	_, err := f.Sessions.GetSession(f.ctx, tenant, s.ID)
	requireCode(t, err, domain.CodeSessionNotFound, "the lapsed lease did not keep it")
	f.release(stuck)
}
