package memory

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
)

// BenchmarkRateLimiterParallel is every core's requests taking from one
// tenant's bucket, as a load run's do: run it with -cpu 2 and more to see
// what the locks they share cost.
func BenchmarkRateLimiterParallel(b *testing.B) {
	l := NewRateLimiter(clock.System{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.TakeRate(ctx, "tenant:550e8400-e29b-41d4-a716-446655440000", 1e9, time.Minute); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A refused request is told to come back when one request's allowance has
// refilled, not a whole window later, and is allowed then; the bucket is
// full again at Reset.
func TestRateLimiterRetryAfterIsOneRefill(t *testing.T) {
	c := clock.NewFake()
	l := NewRateLimiter(c)
	ctx := t.Context()
	for range 4 {
		d, err := l.TakeRate(ctx, "k", 4, time.Minute)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	d, err := l.TakeRate(ctx, "k", 4, time.Minute)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, 15*time.Second, d.RetryAfter, "a minute's 4 requests refill one every 15 s")
	require.Equal(t, c.Now().Add(time.Minute), d.Reset)
	c.Advance(d.RetryAfter)
	d, err = l.TakeRate(ctx, "k", 4, time.Minute)
	require.NoError(t, err)
	require.True(t, d.Allowed, "allowed once RetryAfter has passed")
	require.Zero(t, d.Remaining)
}

// A key's limit or window changed (a tenant's settings edited) applies
// from the next request: the key starts anew under it, rather than
// staying refused by the old bucket.
func TestRateLimiterAppliesAChangedLimitAtOnce(t *testing.T) {
	c := clock.NewFake()
	l := NewRateLimiter(c)
	ctx := t.Context()
	for _, next := range []struct {
		limit  int
		window time.Duration
	}{{5, time.Minute}, {2, time.Hour}} {
		for range 2 {
			_, err := l.TakeRate(ctx, "k", 2, time.Minute)
			require.NoError(t, err)
		}
		d, err := l.TakeRate(ctx, "k", 2, time.Minute)
		require.NoError(t, err)
		require.False(t, d.Allowed, "used up under 2 a minute")
		d, err = l.TakeRate(ctx, "k", next.limit, next.window)
		require.NoError(t, err)
		require.True(t, d.Allowed, "%d per %s applies at once", next.limit, next.window)
		require.Equal(t, next.limit-1, d.Remaining)
		c.Advance(time.Hour) // every bucket full again
	}
}
