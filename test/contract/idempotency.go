package contract

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var idempotencyCases = []testCase{
	{"ClaimCompleteReplay", testClaimCompleteReplay},
	{"ResponseRoundTripsExactly", testIdempotentResponseExact},
	{"ExpiryHonouredOnRead", testIdempotencyExpiry},
	{"CompletionExtendsTheClaim", testCompletionExtendsClaim},
	{"ConcurrentClaimersOneWinner", testConcurrentClaimers},
	{"ConcurrentClaimersOfAnExpiredKey", testConcurrentClaimersExpired},
	{"CompleteOnlyByOwner", testCompleteOnlyByOwner},
	{"ReleaseOnlyByOwnerWhileRunning", testReleaseOnlyByOwner},
	{"TenantIsolation", testIdempotencyTenantIsolation},
	{"RenewOnlyByOwner", testRenewOnlyByOwner},
	{"RenewKeepsTheRecordAlive", testRenewKeepsTheRecordAlive},
	{"TakeOverOnlyALapsedHold", testTakeOverLapsedHold},
	{"TakenOverOwnerLosesTheKey", testTakenOverOwnerLosesTheKey},
	{"CompletedAfterItsHoldLapsedIsNotTakenOver", testCompletedLapsedClaimNotTakenOver},
	{"ConcurrentTakersOneWinner", testConcurrentTakers},
}

// idemTTL is a record that must not expire during a case; shortIdemTTL one
// that is meant to.
const (
	idemTTL      = time.Minute
	shortIdemTTL = 300 * time.Millisecond
	// idemHold is a claim's hold that must not lapse during a case;
	// shortHold one that is meant to.
	idemHold  = 30 * time.Second
	shortHold = 300 * time.Millisecond
)

// later is the expiry of a completed record that must not expire during
// a case.
func later() time.Time { return time.Now().Add(idemTTL) }

func claimOf(tenantID, key string, ttl time.Duration) ports.IdempotencyRecord {
	now := time.Now()
	return ports.IdempotencyRecord{TenantID: tenantID, Key: key, Fingerprint: "POST /v1/chat " + newID(),
		Owner: "owner-" + newID(), Request: newID(), TurnID: newID(), HeldUntil: now.Add(min(ttl, idemHold)), ExpiresAt: now.Add(ttl)}
}

// claim claims rec and requires that it was stored.
func (f *fixture) claim(rec ports.IdempotencyRecord) *ports.IdempotencyRecord {
	f.t.Helper()
	cur, claimed, err := f.Idempotency.ClaimIdempotencyKey(f.ctx, rec)
	require.NoError(f.t, err)
	require.True(f.t, claimed, "a free key is claimed")
	requireClaimOf(f.t, rec, cur)
	return cur
}

func (f *fixture) getIdem(tenantID, key string) *ports.IdempotencyRecord {
	f.t.Helper()
	cur, err := f.Idempotency.GetIdempotencyKey(f.ctx, tenantID, key)
	require.NoError(f.t, err)
	return cur
}

// requireClaimOf checks that cur is rec's claim, running.
func requireClaimOf(t *testing.T, rec ports.IdempotencyRecord, cur *ports.IdempotencyRecord) {
	t.Helper()
	require.NotNil(t, cur, "the record in force")
	require.Equal(t, rec.TenantID, cur.TenantID)
	require.Equal(t, rec.Key, cur.Key)
	require.Equal(t, rec.Fingerprint, cur.Fingerprint)
	require.Equal(t, rec.Owner, cur.Owner)
	require.Equal(t, rec.Request, cur.Request)
	require.Equal(t, rec.TurnID, cur.TurnID)
	require.False(t, cur.Done, "a claim is running until completed")
	requireSameTime(t, rec.HeldUntil, cur.HeldUntil, "held_until")
	requireSameTime(t, rec.ExpiresAt, cur.ExpiresAt, "expires_at")
}

func testClaimCompleteReplay(t *testing.T, f *fixture) {
	tenant, key := newID(), "key-"+newID()
	require.Nil(t, f.getIdem(tenant, key), "an unknown key has no record")
	first := claimOf(tenant, key, idemTTL)
	first.Done, first.Status, first.Body = true, 200, []byte("not a response yet")
	cur := f.claim(first)
	require.Zero(t, cur.Status, "a claim stores no response")
	require.Empty(t, cur.Body)
	first.Done = false
	requireClaimOf(t, first, f.getIdem(tenant, key))

	retry := claimOf(tenant, key, idemTTL)
	cur, claimed, err := f.Idempotency.ClaimIdempotencyKey(f.ctx, retry)
	require.NoError(t, err)
	require.False(t, claimed, "a running claim is not replaced")
	requireClaimOf(t, first, cur)

	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, first.Owner, 201,
		map[string]string{"Content-Type": "application/json"}, []byte(`{"ok":true}`), later()))
	done := f.getIdem(tenant, key)
	require.True(t, done.Done)
	require.Equal(t, first.Owner, done.Owner)
	require.Equal(t, first.Fingerprint, done.Fingerprint)
	require.Equal(t, 201, done.Status)

	cur, claimed, err = f.Idempotency.ClaimIdempotencyKey(f.ctx, retry)
	require.NoError(t, err)
	require.False(t, claimed, "a finished record is replayed, not replaced")
	require.True(t, cur.Done)
	require.Equal(t, []byte(`{"ok":true}`), cur.Body)
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, key, first.Owner),
		"releasing a finished record is a no-op")
	require.True(t, f.getIdem(tenant, key).Done, "a finished record stays until it expires")
}

func testIdempotentResponseExact(t *testing.T, f *fixture) {
	tenant, key := newID(), "key-"+newID()
	rec := claimOf(tenant, key, idemTTL)
	f.claim(rec)
	header := map[string]string{
		"Content-Type":     "text/plain; charset=utf-8",
		"X-Request-Id":     "req-" + newID(),
		"X-Odd.Name$":      "dots and dollars",
		"X-Empty":          "",
		"X-Unicode-Value":  "naïve ☃",
		"X-Turn-Id":        newID(),
		"X-RateLimit-Left": "0",
	}
	body := []byte("line one\r\nline two\x00\xff\xfe invalid UTF-8 \xc3\x28 and \"quotes\" {")
	wantHeader := map[string]string{}
	for k, v := range header {
		wantHeader[k] = v
	}
	wantBody := append([]byte(nil), body...)
	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, rec.Owner, 422, header, body, later()))
	header["Content-Type"], body[0] = "changed by the caller", 'X'

	got := f.getIdem(tenant, key)
	require.True(t, got.Done)
	require.Equal(t, 422, got.Status)
	require.Equal(t, wantHeader, got.Header, "the header map comes back exactly")
	require.Equal(t, wantBody, got.Body, "the body comes back byte for byte")

	got.Header["Content-Type"], got.Body[0] = "changed by the reader", 'Y'
	again, claimed, err := f.Idempotency.ClaimIdempotencyKey(f.ctx, claimOf(tenant, key, idemTTL))
	require.NoError(t, err)
	require.False(t, claimed)
	require.Equal(t, wantHeader, again.Header, "a read returns a copy")
	require.Equal(t, wantBody, again.Body, "a read returns a copy")
}

func testIdempotencyExpiry(t *testing.T, f *fixture) {
	tenant, key := newID(), "key-"+newID()
	old := claimOf(tenant, key, shortIdemTTL)
	f.claim(old)
	require.NotNil(t, f.getIdem(tenant, key))
	time.Sleep(time.Until(old.ExpiresAt) + 50*time.Millisecond)

	require.Nil(t, f.getIdem(tenant, key), "a record past ExpiresAt is absent")
	requireCode(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, old.Owner, 200, nil, []byte("late"), later()),
		domain.CodeNotFound, "completing an expired claim")
	next := claimOf(tenant, key, idemTTL)
	f.claim(next)
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, key, old.Owner))
	requireClaimOf(t, next, f.getIdem(tenant, key))
	requireCode(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, old.Owner, 200, nil, []byte("late"), later()),
		domain.CodeNotFound, "the expired owner cannot complete the new claim")
	requireClaimOf(t, next, f.getIdem(tenant, key))

	// A finished record expires too.
	doneKey := "key-" + newID()
	done := claimOf(tenant, doneKey, shortIdemTTL)
	f.claim(done)
	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, doneKey, done.Owner, 200, nil, []byte("ok"), done.ExpiresAt))
	time.Sleep(time.Until(done.ExpiresAt) + 50*time.Millisecond)
	require.Nil(t, f.getIdem(tenant, doneKey), "a finished record past ExpiresAt is absent")
	f.claim(claimOf(tenant, doneKey, idemTTL))
}

// A claim lives only as long as its request may run; completing it keeps
// the stored response for the full retention.
func testCompletionExtendsClaim(t *testing.T, f *fixture) {
	tenant, key := newID(), "key-"+newID()
	rec := claimOf(tenant, key, shortIdemTTL)
	f.claim(rec)
	keep := time.Now().Add(idemTTL)
	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, rec.Owner, 200, nil, []byte("ok"), keep))
	time.Sleep(time.Until(rec.ExpiresAt) + 50*time.Millisecond)
	got := f.getIdem(tenant, key)
	require.NotNil(t, got, "a completed record outlives its claim's expiry")
	require.True(t, got.Done)
	require.Equal(t, []byte("ok"), got.Body)
	requireSameTime(t, keep, got.ExpiresAt, "expires_at after completion")
}

// raceClaims runs n concurrent claims of one key and checks that exactly
// one claimed and everyone got the winner's record.
func (f *fixture) raceClaims(tenant, key string, n int) ports.IdempotencyRecord {
	f.t.Helper()
	recs := make([]ports.IdempotencyRecord, n)
	for i := range recs {
		recs[i] = claimOf(tenant, key, idemTTL)
	}
	type outcome struct {
		cur     *ports.IdempotencyRecord
		claimed bool
	}
	results := race(n, func(i int) (outcome, error) {
		cur, claimed, err := f.Idempotency.ClaimIdempotencyKey(f.ctx, recs[i])
		return outcome{cur, claimed}, err
	})
	var winners []int
	for i, r := range results {
		require.NoError(f.t, r.err, "claimer %d", i)
		if r.value.claimed {
			winners = append(winners, i)
		}
	}
	require.Len(f.t, winners, 1, "exactly one of %d concurrent claimers claims", n)
	win := recs[winners[0]]
	for i, r := range results {
		requireClaimOf(f.t, win, r.value.cur)
		require.Equal(f.t, win.Owner, r.value.cur.Owner, "claimer %d sees the winner's record", i)
	}
	requireClaimOf(f.t, win, f.getIdem(tenant, key))
	return win
}

func testConcurrentClaimers(t *testing.T, f *fixture) {
	f.raceClaims(newID(), "key-"+newID(), 20)
}

func testConcurrentClaimersExpired(t *testing.T, f *fixture) {
	tenant := newID()
	for round := range 3 {
		key := fmt.Sprintf("key-%d-%s", round, newID())
		old := claimOf(tenant, key, shortIdemTTL)
		f.claim(old)
		time.Sleep(time.Until(old.ExpiresAt) + 20*time.Millisecond)
		win := f.raceClaims(tenant, key, 20)
		require.NotEqual(t, old.Owner, win.Owner)
		require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, win.Owner, 200, nil, []byte("ok"), later()),
			"the winner holds the claim")
	}
}

func testCompleteOnlyByOwner(t *testing.T, f *fixture) {
	tenant, key := newID(), "key-"+newID()
	requireCode(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, "nobody", 200, nil, nil, later()),
		domain.CodeNotFound, "completing an unknown key")
	rec := claimOf(tenant, key, idemTTL)
	f.claim(rec)
	requireCode(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, "owner-"+newID(), 200, nil, []byte("intruder"), later()),
		domain.CodeNotFound, "completing another owner's claim")
	requireClaimOf(t, rec, f.getIdem(tenant, key))

	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, rec.Owner, 200, nil, []byte("first"), later()))
	requireCode(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, rec.Owner, 500, nil, []byte("second"), later()),
		domain.CodeNotFound, "completing a finished record")
	got := f.getIdem(tenant, key)
	require.Equal(t, 200, got.Status, "the first response stays")
	require.Equal(t, []byte("first"), got.Body)
}

func testReleaseOnlyByOwner(t *testing.T, f *fixture) {
	tenant, key := newID(), "key-"+newID()
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, key, "nobody"), "releasing an unknown key is a no-op")
	rec := claimOf(tenant, key, idemTTL)
	f.claim(rec)
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, key, "owner-"+newID()))
	requireClaimOf(t, rec, f.getIdem(tenant, key))

	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, key, rec.Owner))
	require.Nil(t, f.getIdem(tenant, key), "a released claim is gone")
	requireCode(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, tenant, key, rec.Owner, 200, nil, nil, later()),
		domain.CodeNotFound, "completing a released claim")
	retry := claimOf(tenant, key, idemTTL)
	f.claim(retry)
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, tenant, key, rec.Owner), "a late release is a no-op")
	requireClaimOf(t, retry, f.getIdem(tenant, key))
}

func testIdempotencyTenantIsolation(t *testing.T, f *fixture) {
	mine, theirs, key := newID(), newID(), "key-"+newID()
	rec := claimOf(mine, key, idemTTL)
	f.claim(rec)
	require.Nil(t, f.getIdem(theirs, key), "GetIdempotencyKey across tenants")
	requireCode(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, theirs, key, rec.Owner, 200, nil, nil, later()),
		domain.CodeNotFound, "CompleteIdempotencyKey across tenants")
	require.NoError(t, f.Idempotency.ReleaseIdempotencyKey(f.ctx, theirs, key, rec.Owner))
	requireClaimOf(t, rec, f.getIdem(mine, key))

	other := claimOf(theirs, key, idemTTL)
	f.claim(other)
	require.NoError(t, f.Idempotency.CompleteIdempotencyKey(f.ctx, theirs, key, other.Owner, 200, nil, []byte("theirs"), later()))
	requireClaimOf(t, rec, f.getIdem(mine, key))
	require.Equal(t, []byte("theirs"), f.getIdem(theirs, key).Body)
}
