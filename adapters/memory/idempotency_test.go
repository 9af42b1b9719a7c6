package memory

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/ports"
)

// A claim whose hold lapsed but whose owner completed it before the
// takeover arrived is not taken over: the takeover is answered with the
// completed record, its owner and stored reply unchanged.
func TestTakeOverOfACompletedLapsedClaimTakesNothing(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake()
	s := New(c)
	claim := ports.IdempotencyRecord{TenantID: "t", Key: "k", Fingerprint: "f", Owner: "first", Request: "r", TurnID: "turn-1",
		HeldUntil: c.Now().Add(10 * time.Second), ExpiresAt: c.Now().Add(time.Hour)}
	_, claimed, err := s.ClaimIdempotencyKey(ctx, claim)
	require.NoError(t, err)
	require.True(t, claimed)

	c.Advance(time.Minute) // the hold lapses; the late owner still answers
	require.NoError(t, s.CompleteIdempotencyKey(ctx, "t", "k", "first", 422, nil, []byte("bad"), c.Now().Add(time.Hour)))

	next := claim
	next.Owner, next.TurnID = "second", "turn-2"
	next.HeldUntil, next.ExpiresAt = c.Now().Add(10*time.Second), c.Now().Add(time.Hour)
	got, claimed, err := s.TakeOverIdempotencyKey(ctx, next, "first")
	require.NoError(t, err)
	assert.False(t, claimed, "a completed claim is not taken over")
	require.NotNil(t, got)
	assert.True(t, got.Done)
	assert.Equal(t, "first", got.Owner)
	assert.Equal(t, 422, got.Status)
	assert.Equal(t, []byte("bad"), got.Body)

	stored, err := s.GetIdempotencyKey(ctx, "t", "k")
	require.NoError(t, err)
	assert.True(t, stored.Done)
	assert.Equal(t, "first", stored.Owner)
	assert.Equal(t, "turn-1", stored.TurnID)
	assert.Equal(t, []byte("bad"), stored.Body)
}
