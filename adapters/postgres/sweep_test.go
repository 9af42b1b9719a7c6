package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/ports"
)

// The sweep deletes the idempotency records and rate windows that expired
// by the store's clock, and only those: a live record still replays its
// response and a live window still counts.
func TestSweepDeletesOnlyWhatExpired(t *testing.T) {
	ctx := t.Context()
	// At the start of a day: the day's rate window lives on past the sweep.
	fake := clock.Fake{FakeClock: clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}
	db, err := Connect(ctx, Config{URL: freshDatabase(t)}, fake, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	keys, rates := NewIdempotencyKeys(db), NewRateLimits(db)

	for _, k := range []struct {
		key string
		ttl time.Duration
	}{{"short", time.Minute}, {"long", time.Hour}} {
		now := fake.Now()
		_, claimed, err := keys.ClaimIdempotencyKey(ctx, ports.IdempotencyRecord{TenantID: "t", Key: k.key, Fingerprint: "f",
			Owner: "o", TurnID: "turn", ExpiresAt: now.Add(k.ttl), HeldUntil: now.Add(time.Second)})
		require.NoError(t, err)
		require.True(t, claimed)
		require.NoError(t, keys.CompleteIdempotencyKey(ctx, "t", k.key, "o", 200, nil, []byte(k.key), now.Add(k.ttl)))
	}
	for _, window := range []time.Duration{time.Second, 24 * time.Hour} {
		_, err := rates.TakeRate(ctx, "rate/"+window.String(), 10, window)
		require.NoError(t, err)
	}

	fake.Advance(10 * time.Minute) // past the short record and the second's window (and its grace), not the others
	db.sweep()

	stored := func(sql string) []string {
		rows, err := db.Pool().Query(ctx, sql)
		require.NoError(t, err)
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return keys
	}
	require.Equal(t, []string{"long"}, stored(`SELECT key FROM idempotency_keys ORDER BY key`))
	require.Equal(t, []string{"rate/24h0m0s"}, stored(`SELECT key FROM rate_windows ORDER BY key`))
	got, err := keys.GetIdempotencyKey(ctx, "t", "long")
	require.NoError(t, err)
	require.Equal(t, []byte("long"), got.Body, "the live record replays its response")
}
