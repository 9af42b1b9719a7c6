package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/ports"
)

// A record's expiry and a claim's hold end at their instant, by the
// store's clock, for every statement alike: a nanosecond before, the
// record is in force (a read replays it, a claim is refused, a takeover
// too); at the instant, a read finds nothing and the next claim takes the
// key at once, and a lapsed hold is taken over.
func TestIdempotencyExpiryIsExactByTheStoresClock(t *testing.T) {
	ctx := t.Context()
	fake := clock.NewFake()
	db, err := Connect(ctx, Config{URL: freshDatabase(t)}, fake, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	keys := NewIdempotencyKeys(db)
	claim := func(owner string, ttl, hold time.Duration) ports.IdempotencyRecord {
		return ports.IdempotencyRecord{TenantID: "t", Key: "k", Fingerprint: "f", Owner: owner, TurnID: "turn-" + owner,
			ExpiresAt: fake.Now().Add(ttl), HeldUntil: fake.Now().Add(hold)}
	}

	first := claim("o1", time.Minute, time.Second)
	_, claimed, err := keys.ClaimIdempotencyKey(ctx, first)
	require.NoError(t, err)
	require.True(t, claimed)

	fake.Advance(time.Second - time.Nanosecond)
	_, took, err := keys.TakeOverIdempotencyKey(ctx, claim("o2", time.Minute, time.Second), "o1")
	require.NoError(t, err)
	require.False(t, took, "a hold taken over before it lapsed")
	fake.Advance(time.Nanosecond)
	cur, took, err := keys.TakeOverIdempotencyKey(ctx, claim("o2", time.Minute, time.Second), "o1")
	require.NoError(t, err)
	require.True(t, took, "the hold lapsed at HeldUntil: %+v", cur)

	require.NoError(t, keys.CompleteIdempotencyKey(ctx, "t", "k", "o2", 200, nil, []byte("ok"), fake.Now().Add(time.Minute)))
	fake.Advance(time.Minute - time.Nanosecond)
	got, err := keys.GetIdempotencyKey(ctx, "t", "k")
	require.NoError(t, err)
	require.NotNil(t, got, "the record expired before its ExpiresAt")
	require.Equal(t, []byte("ok"), got.Body)
	_, claimed, err = keys.ClaimIdempotencyKey(ctx, claim("o3", time.Minute, time.Second))
	require.NoError(t, err)
	require.False(t, claimed, "a live record was claimed over")

	fake.Advance(time.Nanosecond)
	got, err = keys.GetIdempotencyKey(ctx, "t", "k")
	require.NoError(t, err)
	require.Nil(t, got, "the record outlived its ExpiresAt")
	cur, claimed, err = keys.ClaimIdempotencyKey(ctx, claim("o4", time.Minute, time.Second))
	require.NoError(t, err, "a claim at the instant the record expired")
	require.True(t, claimed)
	require.Equal(t, "o4", cur.Owner)
}

// A claim that expired is gone, lapsed hold or not: a takeover finds
// nothing to take (it does not bring the record back), and the next claim
// takes the key.
func TestAnExpiredClaimIsNotTakenOver(t *testing.T) {
	ctx := t.Context()
	fake := clock.NewFake()
	db, err := Connect(ctx, Config{URL: freshDatabase(t)}, fake, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	keys := NewIdempotencyKeys(db)
	claim := func(owner string) ports.IdempotencyRecord {
		return ports.IdempotencyRecord{TenantID: "t", Key: "k", Fingerprint: "f", Owner: owner, TurnID: "turn-" + owner,
			ExpiresAt: fake.Now().Add(time.Minute), HeldUntil: fake.Now().Add(time.Second)}
	}
	_, claimed, err := keys.ClaimIdempotencyKey(ctx, claim("o1"))
	require.NoError(t, err)
	require.True(t, claimed)

	fake.Advance(time.Minute)
	cur, took, err := keys.TakeOverIdempotencyKey(ctx, claim("o2"), "o1")
	require.NoError(t, err)
	require.False(t, took, "an expired claim was taken over: %+v", cur)
	cur, claimed, err = keys.ClaimIdempotencyKey(ctx, claim("o3"))
	require.NoError(t, err)
	require.True(t, claimed)
	require.Equal(t, "o3", cur.Owner)
}
