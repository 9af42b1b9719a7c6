package mongo

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

func byIDReq(tenantID, sessionID string, wait, ttl time.Duration) ports.LockRequest {
	return ports.LockRequest{TenantID: tenantID, SessionID: sessionID, Wait: wait, TTL: ttl}
}

func newUserSession(t *testing.T, l *Leases) (domain.ChannelKey, *domain.Session) {
	t.Helper()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	lease := lockByKey(t, l, k, 0)
	require.NoError(t, lease.Release(t.Context()))
	return k, lease.Session()
}

// Waiters on an expired lease, spread over three instances, take it over
// one at a time: a takeover never removes the lease another waiter has
// just taken (FerretDB's filtered deletes are find-then-delete), so no two
// ever hold it at once. Every holder marks its entry and exit under one
// mutex; an entry while another holds it fails the test.
func TestExpiredLeaseTakenOverByOneWaiterAtATime(t *testing.T) {
	a := testDB(t)
	instances := []*Leases{NewLeases(a), NewLeases(sibling(t, a)), NewLeases(sibling(t, a))}
	ctx := t.Context()
	const rounds, waiters = 4, 8
	for round := range rounds {
		k, sess := newUserSession(t, instances[0])
		// A holder that crashed: its lease runs out and is never released.
		_, err := instances[0].LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, 200*time.Millisecond))
		require.NoError(t, err)

		var mu sync.Mutex
		holder := int64(0)
		var overlaps []string
		held := 0
		var wg sync.WaitGroup
		for i := range waiters {
			l := instances[i%len(instances)]
			wg.Go(func() {
				lease, err := l.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 10*time.Second, 10*time.Second))
				if !assertNoError(t, err, "round %d waiter %d", round, i) {
					return
				}
				fence := lease.Token().Fence
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
				assertNoError(t, lease.Release(ctx), "release")
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

func (c *offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c *offsetClock) AfterFunc(d time.Duration, f func()) ports.Timer { return time.AfterFunc(d, f) }

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// A holder commits without reading its lease back only while nobody else
// can hold it: until the moment it asked for the lease plus the TTL, less
// the clock skew allowance, less the write's own deadline.
func TestLeaseHeldAloneUntilExpiryLessSkew(t *testing.T) {
	rec := &commands{}
	clk := &offsetClock{}
	db := configuredDB(t, Config{LeaseClockSkew: 5 * time.Second, OperationTimeout: 2 * time.Second}, clk, rec.option())
	s := storesOf(db)
	ctx := t.Context()
	k, sess := newUserSession(t, s.leases)

	early, err := s.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, 20*time.Second))
	require.NoError(t, err)
	clk.advance(12 * time.Second) // 12s + 2s of write < 20s - 5s
	got := rec.during(func() { require.NoError(t, s.turns.CommitTurn(ctx, early.Token(), turnAfter(early.Session(), 1))) })
	require.Equal(t, []string{"insert"}, got.names, "held alone: the insert decides")

	late, err := s.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, 20*time.Second))
	require.NoError(t, err)
	clk.advance(14 * time.Second) // 14s + 2s > 15s: another clock may see it expire during the write
	got = rec.during(func() { require.NoError(t, s.turns.CommitTurn(ctx, late.Token(), turnAfter(late.Session(), 2))) })
	require.Equal(t, []string{"find", "insert"}, got.names, "near its expiry the lease is read back")
	require.NoError(t, late.Release(ctx))
	st, err := s.sessions.GetSession(ctx, k.TenantID, sess.ID)
	require.NoError(t, err)
	require.Equal(t, 2, st.TurnCount)
}

// Where the server cannot judge expiry, an instance whose clock is off the
// server's by more than half the allowance takes no lease over: it waits
// until its wait ends. One whose clock is right takes the same lease over.
func TestSkewedInstanceTakesNoLeaseOver(t *testing.T) {
	skewed := &offsetClock{offset: 10 * time.Second} // allowance 5s: 10s is far off
	base := testDB(t)
	if base.caps.serverTime {
		require.Nil(t, base.skew, "MongoDB judges expiry by its own clock: no instance clock is checked")
		return
	}
	cfg := base.cfg
	off := storesOf(openDB(t, cfg, skewed))
	right := storesOf(base)
	// The holder's lease ran out a minute ago by its own clock: expired for
	// every instance whose clock is right, with no wait.
	past := storesOf(openDB(t, cfg, &offsetClock{offset: -time.Minute}))
	ctx := t.Context()
	k, sess := newUserSession(t, right.leases)
	_, err := past.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, time.Second)) // its holder dies
	require.NoError(t, err)

	_, err = off.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 300*time.Millisecond, time.Minute))
	requireCode(t, err, domain.CodeSessionBusy, "an instance 10s off the server takes nothing over")
	lease, err := right.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, time.Second, time.Minute))
	require.NoError(t, err, "an instance on time takes the expired lease over")
	require.NoError(t, lease.Release(ctx))
}

// A delete waits for the turn in flight on another instance: the turn,
// which skips its lease read, commits before the delete goes on, and the
// delete then removes it. Nothing of the session is left.
func TestDeleteSessionWaitsForTheTurnInFlight(t *testing.T) {
	a := storesOf(testDB(t))
	b := storesOf(sibling(t, a.policies.db))
	ctx := t.Context()
	k, sess := newUserSession(t, a.leases)
	lease, err := a.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, time.Minute))
	require.NoError(t, err)

	deleted := make(chan error, 1)
	go func() { deleted <- b.sessions.DeleteSession(ctx, k.TenantID, sess.ID) }()
	select {
	case err := <-deleted:
		t.Fatalf("the delete did not wait for the turn in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	turn := turnAfter(lease.Session(), 1)
	require.NoError(t, a.turns.CommitTurn(ctx, lease.Token(), turn), "the turn in flight commits")
	require.NoError(t, lease.Release(ctx))
	require.NoError(t, receive(t, deleted, 5*time.Second, "the delete after the commit"))

	_, err = a.turns.GetTurn(ctx, k.TenantID, turn.ID)
	requireCode(t, err, domain.CodeTurnNotFound, "the turn went with its session")
	recent, err := a.turns.RecentHistory(ctx, k.TenantID, sess.ID, 10)
	require.NoError(t, err)
	require.Empty(t, recent)
	_, err = a.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, time.Second, time.Minute))
	requireCode(t, err, domain.CodeSessionNotFound, "LockSession of the deleted session")
	err = a.turns.CommitTurn(ctx, lease.Token(), turnAfter(sess, 1))
	requireCode(t, err, domain.CodeSessionNotFound, "a late commit under the old lease")
}

// A delete does not wait for a dead holder longer than its lease.
func TestDeleteSessionTakesOverADeadHoldersLease(t *testing.T) {
	a := storesOf(testDB(t))
	b := storesOf(sibling(t, a.policies.db))
	ctx := t.Context()
	k, sess := newUserSession(t, a.leases)
	start := time.Now()
	_, err := a.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, 300*time.Millisecond)) // never released
	require.NoError(t, err)
	require.NoError(t, b.sessions.DeleteSession(ctx, k.TenantID, sess.ID))
	require.GreaterOrEqual(t, time.Since(start), 280*time.Millisecond, "not before the dead holder's lease ran out")
	_, err = a.sessions.GetSession(ctx, k.TenantID, sess.ID)
	requireCode(t, err, domain.CodeSessionNotFound, "the session is gone")
	requireCode(t, b.sessions.DeleteSession(ctx, k.TenantID, sess.ID), domain.CodeSessionNotFound, "deleting twice")
}

// MongoDB's lease write: the filter admits only an expired lease that is
// not sealed, and the server's clock stamps the expiry.
func TestLeaseUpsertIsJudgedByTheServerClock(t *testing.T) {
	filter, update := leaseUpsert(leaseWrite{tenantID: "t", sessionID: "s", turn: 7, ttl: 75 * time.Second}, 42)
	require.Equal(t, `{"_id":"t/s/7","sealed":{"$ne":true},"$expr":{"$lt":["$expires_at","$$NOW"]}}`, extJSON(t, filter))
	require.Len(t, update, 1)
	require.Equal(t, `{"$set":{"tenant_id":"t","session_id":"s","turn":7,"fence":42,"sealed":false,`+
		`"expires_at":{"$add":["$$NOW",75000]},"purge_at":{"$add":["$$NOW",375000]}}}`,
		extJSON(t, update[0]))
	_, sealed := leaseUpsert(leaseWrite{tenantID: "t", sessionID: "s", turn: 8, seal: true}, 43)
	require.Contains(t, extJSON(t, sealed[0]), `"sealed":true,"expires_at":{"$date":"9999-01-01T00:00:00Z"}`,
		"a seal never expires")
}

// The other MongoDB-only commands: the session read that joins its newest
// turns, the turn read that joins its session's close, the rate counter, and the claim that admits only an expired
// record.
func TestMongoOnlyCommands(t *testing.T) {
	require.Equal(t, `{"$lookup":{"from":"turns","localField":"_id","foreignField":"session_id",`+
		`"pipeline":[{"$sort":{"turn_number":-1}},{"$limit":10},{"$project":{"turn_number":1,"record":1}}],"as":"history"}}`,
		extJSON(t, lookupHistory(10)), "history joins the records without their session state")
	require.Equal(t, `{"$lookup":{"from":"turns","localField":"_id","foreignField":"session_id",`+
		`"pipeline":[{"$sort":{"turn_number":-1}},{"$limit":1},{"$project":{"turn_number":1,"session_after":1}}],"as":"recent"}}`,
		extJSON(t, lookupHead()), "a session joins only what its state needs of its newest turn")
	require.Equal(t, `{"$lookup":{"from":"sessions","localField":"session_id","foreignField":"_id",`+
		`"pipeline":[{"$project":{"tenant_id":1,"status":1,"closed_ns":1,"closed_turns":1,"base_version":1}}],"as":"session"}}`,
		extJSON(t, lookupSessionClose()), "a turn read joins only what its session's close says of it")

	end := time.Date(2030, 1, 1, 0, 1, 0, 0, time.UTC)
	id, update := rateCount("tenant:a", 42, end)
	require.Equal(t, "tenant:a/42", id)
	require.Equal(t, `{"$inc":{"n":1},"$setOnInsert":{"key":"tenant:a","window_start":42,"expires_at":{"$date":"2030-01-01T00:02:00Z"}}}`,
		extJSON(t, update))

	now := time.Unix(0, 1000)
	require.Equal(t, `{"_id":"k","expires_ns":{"$lte":1000}}`, extJSON(t, replaceableClaim("k", now)))
}

// A renewal moves the moment until which the holder commits without
// reading its lease back: to when the renewal was sent plus the TTL, less
// the clock skew allowance, less the write's own deadline.
func TestRenewedLeaseHeldAloneUntilExpiryLessSkew(t *testing.T) {
	rec := &commands{}
	clk := &offsetClock{}
	db := configuredDB(t, Config{LeaseClockSkew: 5 * time.Second, OperationTimeout: 2 * time.Second}, clk, rec.option())
	s := storesOf(db)
	ctx := t.Context()
	k, sess := newUserSession(t, s.leases)

	early, err := s.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, 20*time.Second))
	require.NoError(t, err)
	clk.advance(10 * time.Second)
	require.NoError(t, early.Renew(ctx))
	clk.advance(12 * time.Second) // 22s + 2s of write < 10s + 20s - 5s, past the grant's 15s
	got := rec.during(func() { require.NoError(t, s.turns.CommitTurn(ctx, early.Token(), turnAfter(early.Session(), 1))) })
	require.Equal(t, []string{"insert"}, got.names, "held alone since the renewal: the insert decides")

	late, err := s.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, 20*time.Second))
	require.NoError(t, err)
	clk.advance(10 * time.Second)
	require.NoError(t, late.Renew(ctx))
	clk.advance(14 * time.Second) // 24s + 2s > 25s: another clock may see the renewed lease expire during the write
	got = rec.during(func() { require.NoError(t, s.turns.CommitTurn(ctx, late.Token(), turnAfter(late.Session(), 2))) })
	require.Equal(t, []string{"find", "insert"}, got.names, "near the renewed expiry the lease is read back")
	require.NoError(t, late.Release(ctx))
}

// The allowance is split between two clocks: an instance off the server
// by more than half of it, though less than all of it, takes no lease
// over either (a holder's clock may be off the other way).
func TestInstanceOffByMoreThanHalfTheSkewTakesNoLeaseOver(t *testing.T) {
	base := testDB(t)
	if base.caps.serverTime {
		require.Nil(t, base.skew, "MongoDB judges expiry by its own clock: no instance clock is checked")
		return
	}
	cfg := base.cfg // LeaseClockSkew 5s
	off := storesOf(openDB(t, cfg, &offsetClock{offset: 3 * time.Second}))
	past := storesOf(openDB(t, cfg, &offsetClock{offset: -time.Minute}))
	ctx := t.Context()
	k, sess := newUserSession(t, storesOf(base).leases)
	_, err := past.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, time.Second)) // its holder dies
	require.NoError(t, err)

	_, err = off.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 300*time.Millisecond, time.Minute))
	requireCode(t, err, domain.CodeSessionBusy, "an instance 3s off, allowance 5s, takes nothing over")
}

// An instance's clock is measured again before a takeover when the last
// measurement is over a minute old: a clock that jumped since start-up
// takes no lease over.
func TestClockThatJumpedSinceStartTakesNoLeaseOver(t *testing.T) {
	base := testDB(t)
	if base.caps.serverTime {
		require.Nil(t, base.skew, "MongoDB judges expiry by its own clock: no instance clock is checked")
		return
	}
	jumped := &offsetClock{}
	j := storesOf(openDB(t, base.cfg, jumped)) // measured right at start
	right := storesOf(base)
	ctx := t.Context()
	k, sess := newUserSession(t, right.leases)
	held, err := right.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, time.Minute))
	require.NoError(t, err)

	jumped.advance(2 * time.Minute) // the holder's minute is over, by this clock only
	_, err = j.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 300*time.Millisecond, time.Minute))
	requireCode(t, err, domain.CodeSessionBusy, "a clock 2 minutes fast takes a live lease over")
	require.NoError(t, held.Release(ctx))
}

// Where the server cannot judge expiry, a holder renews only a lease its
// own clock does not yet see expired: a waiter may be taking it over, and
// a renewal landing then would leave the holder believing it holds a
// lease another has.
func TestLeaseExpiredByItsHoldersClockIsNotRenewed(t *testing.T) {
	clk := &offsetClock{}
	db := configuredDB(t, Config{}, clk)
	if db.caps.serverTime {
		require.Nil(t, db.skew, "MongoDB stamps a renewal by its own clock")
		return
	}
	s := storesOf(db)
	ctx := t.Context()
	k, sess := newUserSession(t, s.leases)
	lease, err := s.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, time.Second))
	require.NoError(t, err)
	stored, err := db.findLease(ctx, leaseID(k.TenantID, sess.ID, 1))
	require.NoError(t, err)

	clk.advance(2 * time.Second)
	requireCode(t, lease.Renew(ctx), domain.CodeSessionBusy, "renewing a lease expired by the holder's clock")
	after, err := db.findLease(ctx, leaseID(k.TenantID, sess.ID, 1))
	require.NoError(t, err)
	require.True(t, after.ExpiresAt.Equal(stored.ExpiresAt), "its expiry is unchanged")
}

// A caller that gives up while its lease write is in flight does not keep
// the lease it won too late: it is given back, and the next caller gets
// it at once.
func TestLeaseWonAfterItsCallerGaveUpIsGivenBack(t *testing.T) {
	var cancelOnInsert atomic.Pointer[context.CancelFunc]
	db := testDB(t, WithCommandObserver(func(e CommandEvent) {
		if e.Name == "insert" || e.Name == "update" {
			if cancel := cancelOnInsert.Swap(nil); cancel != nil {
				(*cancel)() // the caller gives up as the lease write lands
			}
		}
	}))
	k, sess := newUserSession(t, storesOf(sibling(t, db)).leases) // this instance knows nothing of it: the read, then the lease
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cancelOnInsert.Store(&cancel)
	_, err := NewLeases(db).LockSession(ctx, byIDReq(k.TenantID, sess.ID, time.Second, time.Minute))
	requireCode(t, err, domain.CodeStoreUnavailable, "a lock whose caller gave up")

	next, err := NewLeases(db).LockSession(t.Context(), byIDReq(k.TenantID, sess.ID, 0, time.Minute))
	require.NoError(t, err, "the lease won too late was given back")
	require.NoError(t, next.Release(t.Context()))
}

// A guess whose lease was purged meanwhile (the TTL index removes a
// lease some minutes after it expired) is written, but the read decides:
// the lease granted is of the turn after the session's newest, not the
// guessed one.
func TestGuessAtAPurgedLeaseIsNotGranted(t *testing.T) {
	db := testDB(t)
	other := storesOf(sibling(t, db))
	s := storesOf(db)
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	first := lockByKey(t, s.leases, k, 0) // this instance will guess turn 2
	require.NoError(t, s.turns.CommitTurn(ctx, first.Token(), turnAfter(first.Session(), 1)))
	second := lockByKey(t, other.leases, k, 0)
	require.NoError(t, other.turns.CommitTurn(ctx, second.Token(), turnAfter(second.Session(), 2)))
	_, err := db.leases.DeleteOne(ctx, bson.D{{Key: "_id", Value: leaseID(k.TenantID, first.Session().ID, 2)}}) // purged
	require.NoError(t, err)

	lease := lockByKey(t, s.leases, k, 0)
	require.Equal(t, 3, lease.Token().TurnNumber, "the lease of the turn after the newest")
	require.NoError(t, s.turns.CommitTurn(ctx, lease.Token(), turnAfter(lease.Session(), 3)))
	got, err := s.sessions.GetSession(ctx, k.TenantID, first.Session().ID)
	require.NoError(t, err)
	require.Equal(t, 3, got.TurnCount)
}

// A turn its old holder commits while a waiter takes its expired lease
// over (the residual window of a check before a write) moves the waiter
// on: it is granted the lease of the turn after, with the session as that
// turn left it, not the number it took over.
func TestTurnCommittedDuringATakeoverMovesTheWaiterOn(t *testing.T) {
	base := testDB(t)
	if base.caps.serverTime {
		require.Nil(t, base.skew, "MongoDB takes an expired lease over in one write: nothing comes between")
		return
	}
	var commit atomic.Pointer[func()]
	waiter := storesOf(openDB(t, base.cfg, clock.System{}, WithCommandObserver(func(e CommandEvent) {
		if e.Name == "insert" && e.Workaround { // the takeover marker, before the expired lease is deleted
			if fn := commit.Swap(nil); fn != nil {
				(*fn)()
			}
		}
	})))
	past := storesOf(openDB(t, base.cfg, &offsetClock{offset: -time.Minute}))
	ctx := t.Context()
	k, sess := newUserSession(t, storesOf(base).leases)
	held, err := past.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, time.Second)) // expired for every other clock
	require.NoError(t, err)
	committed := make(chan error, 1)
	fn := func() { committed <- past.turns.CommitTurn(ctx, held.Token(), turnAfter(held.Session(), 1)) }
	commit.Store(&fn)

	lease, err := waiter.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 5*time.Second, time.Minute))
	require.NoError(t, err)
	require.NoError(t, receive(t, committed, 5*time.Second, "the old holder's commit"))
	require.Equal(t, 2, lease.Token().TurnNumber, "the lease of the turn after the one committed meanwhile")
	require.Equal(t, 1, lease.Session().TurnCount, "the session as that turn left it")
	require.NoError(t, lease.Release(ctx))
}
