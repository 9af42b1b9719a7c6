package memory

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

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

// A bucket answers as the golang.org/x/time/rate Limiter it replaced
// (AllowN(now, 1), then TokensAt(now)), to the bit: over runs of requests
// at random steps of the clock, some backwards, under limits and windows
// from one a day to a million a second.
func TestBucketCountsAsRateLimiterDoes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for run := range 200 {
		limit := 1 + rng.IntN(1000)
		window := time.Duration(1+rng.Int64N(int64(24*time.Hour))) / time.Duration(1+rng.IntN(1000))
		window = max(window, time.Nanosecond)
		perSecond := float64(limit) / window.Seconds()
		b := &bucket{limit: limit, window: window, perSecond: perSecond}
		ref := rate.NewLimiter(rate.Limit(perSecond), limit)
		now := start
		for i := range 500 {
			step := time.Duration(rng.Int64N(int64(2*window/time.Duration(limit)) + 1))
			if rng.IntN(20) == 0 {
				step = -step
			}
			now = now.Add(step)
			allowed, tokens := b.take(now)
			refAllowed := ref.AllowN(now, 1)
			require.Equal(t, refAllowed, allowed, "run %d request %d", run, i)
			require.Equal(t, ref.TokensAt(now), tokens, "run %d request %d", run, i)
			require.Equal(t, ref.TokensAt(now.Add(step)), b.tokensAt(now.Add(step)), "run %d request %d", run, i)
		}
	}
}

// Requests from many goroutines at once, on one key and on another
// between its, take exactly the tokens a key has: none is lost or counted
// twice; and a key swept once refilled starts anew.
func TestRateLimiterCountsConcurrentRequestsExactly(t *testing.T) {
	c := clock.NewFake()
	l := NewRateLimiter(c)
	ctx := t.Context()
	const goroutines, each, limit = 8, 500, 3000
	allowed := make(chan int, goroutines)
	for g := range goroutines {
		go func() {
			n := 0
			for i := range each {
				if i%7 == g%7 {
					_, _ = l.TakeRate(ctx, "other", 10, time.Minute)
				}
				if d, err := l.TakeRate(ctx, "k", limit, time.Minute); err == nil && d.Allowed {
					n++
				}
			}
			allowed <- n
		}()
	}
	total := 0
	for range goroutines {
		total += <-allowed
	}
	require.Equal(t, limit, total)

	c.Advance(time.Hour)
	d, err := l.TakeRate(ctx, "k", limit, time.Minute)
	require.NoError(t, err)
	require.Equal(t, limit-1, d.Remaining)
	require.Equal(t, 2, l.Sweep(c.Now().Add(time.Hour)), "both keys had refilled")
	d, err = l.TakeRate(ctx, "k", limit, time.Minute)
	require.NoError(t, err)
	require.Equal(t, limit-1, d.Remaining, "a fresh bucket")
}
