package contract

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// Holds: an unfinished claim is held by its owner until HeldUntil, which
// the owner renews while its request runs; past it, another request may
// take the claim over, keeping the key's request and fingerprint.

// holdClaim claims a fresh key whose hold lapses after hold.
func (f *fixture) holdClaim(tenant string, hold time.Duration) ports.IdempotencyRecord {
	f.t.Helper()
	rec := claimOf(tenant, "key-"+newID(), idemTTL)
	rec.HeldUntil = time.Now().Add(hold)
	f.claim(rec)
	return rec
}

// successor is the record a retry takes rec over with.
func successor(rec ports.IdempotencyRecord) ports.IdempotencyRecord {
	next := claimOf(rec.TenantID, rec.Key, idemTTL)
	next.Fingerprint, next.Request = rec.Fingerprint, rec.Request
	return next
}

func testRenewOnlyByOwner(t *testing.T, f *fixture) {
	tenant := newID()
	requireCode(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, tenant, "key-"+newID(), "nobody", time.Now().Add(idemHold)),
		domain.CodeNotFound, "renewing an unknown key")
	rec := f.holdClaim(tenant, shortHold)
	later := time.Now().Add(idemHold)
	require.NoError(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, tenant, rec.Key, rec.Owner, later))
	got := f.getIdem(tenant, rec.Key)
	requireSameTime(t, later, got.HeldUntil, "held_until after a renewal")
	requireSameTime(t, rec.ExpiresAt, got.ExpiresAt, "a renewal within the record's life leaves its expiry")

	requireCode(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, tenant, rec.Key, "owner-"+newID(), time.Now().Add(time.Hour)),
		domain.CodeNotFound, "renewing another owner's claim")
	requireCode(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, newID(), rec.Key, rec.Owner, time.Now().Add(time.Hour)),
		domain.CodeNotFound, "renewing across tenants")
	requireSameTime(t, later, f.getIdem(tenant, rec.Key).HeldUntil, "refused renewals change nothing")

	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, rec.Key, rec.Owner, 200, nil, []byte("ok"), time.Now().Add(idemTTL)))
	requireCode(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, tenant, rec.Key, rec.Owner, time.Now().Add(time.Hour)),
		domain.CodeNotFound, "renewing a finished record")

	released := f.holdClaim(tenant, idemHold)
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, released.Key, released.Owner))
	requireCode(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, tenant, released.Key, released.Owner, time.Now().Add(time.Hour)),
		domain.CodeNotFound, "a late renewal does not bring a released claim back")
	require.Nil(t, f.getIdem(tenant, released.Key))
}

// A record never expires while its owner holds it: a renewal past the
// record's expiry extends it.
func testRenewKeepsTheRecordAlive(t *testing.T, f *fixture) {
	tenant := newID()
	rec := claimOf(tenant, "key-"+newID(), shortIdemTTL)
	f.claim(rec)
	held := time.Now().Add(idemHold)
	require.NoError(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, tenant, rec.Key, rec.Owner, held))
	time.Sleep(time.Until(rec.ExpiresAt) + 50*time.Millisecond)
	got := f.getIdem(tenant, rec.Key)
	require.NotNil(t, got, "a held claim outlives its first expiry")
	require.Equal(t, rec.Owner, got.Owner)
	require.False(t, got.ExpiresAt.Before(held.Add(-time.Millisecond)), "the record lives at least while held")
	_, claimed, err := f.Idempotency.ClaimIdempotencyKey(f.ctx, claimOf(tenant, rec.Key, idemTTL))
	require.NoError(t, err)
	require.False(t, claimed, "a held claim is not replaced")
}

func testTakeOverLapsedHold(t *testing.T, f *fixture) {
	tenant := newID()
	rec := f.holdClaim(tenant, shortHold)
	next := successor(rec)

	cur, took, err := f.Idempotency.TakeOverIdempotencyKey(f.ctx, next, rec.Owner)
	require.NoError(t, err)
	require.False(t, took, "a claim still held is not taken over")
	requireClaimOf(t, rec, cur)

	time.Sleep(time.Until(rec.HeldUntil) + 50*time.Millisecond)
	cur, took, err = f.Idempotency.TakeOverIdempotencyKey(f.ctx, next, "owner-"+newID())
	require.NoError(t, err)
	require.False(t, took, "only the named owner's claim is taken over")
	requireClaimOf(t, rec, cur)

	cur, took, err = f.Idempotency.TakeOverIdempotencyKey(f.ctx, next, rec.Owner)
	require.NoError(t, err)
	require.True(t, took, "a lapsed hold is taken over")
	requireClaimOf(t, next, cur)
	requireClaimOf(t, next, f.getIdem(tenant, rec.Key))

	// Taking over a finished record, or a missing one, takes nothing.
	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, rec.Key, next.Owner, 200, nil, []byte("ok"), time.Now().Add(idemTTL)))
	cur, took, err = f.Idempotency.TakeOverIdempotencyKey(f.ctx, successor(next), next.Owner)
	require.NoError(t, err)
	require.False(t, took, "a finished record is not taken over")
	require.True(t, cur.Done)
	cur, took, err = f.Idempotency.TakeOverIdempotencyKey(f.ctx, successor(claimOf(tenant, "key-"+newID(), idemTTL)), "owner-"+newID())
	require.NoError(t, err)
	require.False(t, took)
	require.Nil(t, cur, "a key without a record has nothing to take over")
}

// Once taken over, the old owner can neither renew, complete nor release
// the key: its late calls leave the new owner's claim as it is.
func testTakenOverOwnerLosesTheKey(t *testing.T, f *fixture) {
	tenant := newID()
	rec := f.holdClaim(tenant, shortHold)
	time.Sleep(time.Until(rec.HeldUntil) + 50*time.Millisecond)
	next := successor(rec)
	_, took, err := f.Idempotency.TakeOverIdempotencyKey(f.ctx, next, rec.Owner)
	require.NoError(t, err)
	require.True(t, took)

	requireCode(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, tenant, rec.Key, rec.Owner, time.Now().Add(time.Hour)),
		domain.CodeNotFound, "the old owner's renewal")
	requireCode(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, rec.Key, rec.Owner, 200, nil, []byte("late"), time.Now().Add(idemTTL)),
		domain.CodeNotFound, "the old owner's completion")
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, rec.Key, rec.Owner))
	requireClaimOf(t, next, f.getIdem(tenant, rec.Key))

	require.NoError(t, f.Idempotency.RenewIdempotencyClaim(f.ctx, tenant, rec.Key, next.Owner, time.Now().Add(idemHold)),
		"the new owner renews")
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, rec.Key, next.Owner))
	require.Nil(t, f.getIdem(tenant, rec.Key), "the new owner releases")
}

func testConcurrentTakers(t *testing.T, f *fixture) {
	tenant := newID()
	rec := f.holdClaim(tenant, shortHold)
	time.Sleep(time.Until(rec.HeldUntil) + 50*time.Millisecond)
	const n = 12
	takers := make([]ports.IdempotencyRecord, n)
	for i := range takers {
		takers[i] = successor(rec)
	}
	type outcome struct {
		cur  *ports.IdempotencyRecord
		took bool
	}
	results := race(n, func(i int) (outcome, error) {
		cur, took, err := f.Idempotency.TakeOverIdempotencyKey(f.ctx, takers[i], rec.Owner)
		return outcome{cur, took}, err
	})
	winner := -1
	for i, r := range results {
		require.NoError(t, r.err, "taker %d", i)
		if r.value.took {
			require.Equal(t, -1, winner, "two takers took one claim over")
			winner = i
		}
	}
	require.NotEqual(t, -1, winner, "one taker takes the lapsed claim over")
	for i, r := range results {
		// A loser sees the winner's claim, or the old one when it looked
		// before the winner's write landed; never a third.
		if i != winner && r.value.cur != nil && r.value.cur.Owner != rec.Owner {
			require.Equal(t, takers[winner].Owner, r.value.cur.Owner, "taker %d sees the winner's claim", i)
		}
	}
	requireClaimOf(t, takers[winner], f.getIdem(tenant, rec.Key))
}

// A claim whose hold lapsed is still its owner's until another takes it
// over: an owner that answers late completes it, and a takeover after that
// takes nothing, however long ago the hold lapsed, answered with the
// completed record, which stays as its owner stored it.
func testCompletedLapsedClaimNotTakenOver(t *testing.T, f *fixture) {
	tenant := newID()
	rec := f.holdClaim(tenant, shortHold)
	time.Sleep(time.Until(rec.HeldUntil) + 50*time.Millisecond)
	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, rec.Key, rec.Owner, 422, nil, []byte("bad"), time.Now().Add(idemTTL)),
		"the owner completes its claim after the hold lapsed")

	cur, took, err := f.Idempotency.TakeOverIdempotencyKey(f.ctx, successor(rec), rec.Owner)
	require.NoError(t, err)
	require.False(t, took, "a completed claim is not taken over")
	for what, got := range map[string]*ports.IdempotencyRecord{"the takeover's answer": cur, "the stored record": f.getIdem(tenant, rec.Key)} {
		require.NotNil(t, got, what)
		require.True(t, got.Done, what)
		require.Equal(t, rec.Owner, got.Owner, what)
		require.Equal(t, rec.TurnID, got.TurnID, what)
		require.Equal(t, 422, got.Status, what)
		require.Equal(t, []byte("bad"), got.Body, what)
	}
}
