package memory

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"focal/adapters/clock"
	"focal/ports"
)

// referenceRates is the limiter as it was, a rate.Limiter per key: what
// RateLimiter's own buckets must decide, to the nanosecond.
type referenceRates struct {
	buckets map[string]*referenceBucket
}

type referenceBucket struct {
	limiter *rate.Limiter
	limit   int
	window  time.Duration
}

func (r *referenceRates) take(now time.Time, key string, limit int, window time.Duration) ports.RateDecision {
	perSecond := rate.Limit(float64(limit) / window.Seconds())
	b, ok := r.buckets[key]
	if !ok || b.limit != limit || b.window != window {
		b = &referenceBucket{limiter: rate.NewLimiter(perSecond, limit), limit: limit, window: window}
		r.buckets[key] = b
	}
	allowed := b.limiter.AllowN(now, 1)
	tokens := b.limiter.TokensAt(now)
	d := ports.RateDecision{Allowed: allowed, Limit: limit, Remaining: max(0, int(math.Floor(tokens)))}
	d.Reset = now.Add(time.Duration((float64(limit) - tokens) / float64(perSecond) * float64(time.Second)))
	if !allowed {
		d.RetryAfter = time.Duration((1 - tokens) / float64(perSecond) * float64(time.Second))
	}
	return d
}

// steppedClock is a clock a test moves by hand, back in time too.
type steppedClock struct {
	clock.System
	now time.Time
}

func (c *steppedClock) Now() time.Time { return c.now }

// The limiter decides every request as rate.Limiter's AllowN and TokensAt
// did: allowed or not, the tokens remaining, the reset and the retry
// times, over bursts, waits of every length (back in time too), limits
// and windows of every size and a key's limit changing.
func TestRateLimiterCountsAsRateLimiter(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(40) {
		rnd := rand.New(rand.NewPCG(seed, 7))
		clk := &steppedClock{now: time.Now()}
		l := NewRateLimiter(clk)
		ref := &referenceRates{buckets: map[string]*referenceBucket{}}
		limits := []int{1, 2, 3, 7, 60, 600, 6000, 1e9}
		// Windows of a few nanoseconds refill a fraction of a token a
		// nanosecond: a request then finds a token short by less than a
		// nanosecond's worth, and is allowed.
		windows := []time.Duration{time.Second, 7 * time.Second, time.Minute, time.Hour, 1500 * time.Millisecond, 7, 3001}
		for i := range 3000 {
			switch rnd.IntN(7) {
			case 0:
				clk.now = clk.now.Add(time.Duration(rnd.Int64N(int64(2 * time.Second))))
			case 1:
				clk.now = clk.now.Add(time.Duration(rnd.Int64N(1000)))
			case 2:
				clk.now = clk.now.Add(time.Duration(rnd.Int64N(4)))
			case 3:
				clk.now = clk.now.Add(-time.Duration(rnd.Int64N(int64(time.Second))))
			}
			key := []string{"a", "b", "c"}[rnd.IntN(3)]
			limit, window := limits[rnd.IntN(len(limits))], windows[rnd.IntN(len(windows))]
			if rnd.IntN(10) > 0 { // keys mostly keep their limit
				limit, window = limits[len(key)+int(seed)%4], windows[int(seed)%len(windows)]
			}
			got, err := l.TakeRate(ctx, key, limit, window)
			require.NoError(t, err)
			want := ref.take(clk.Now(), key, limit, window)
			require.Equal(t, want, got, "seed %d, request %d", seed, i)
		}
	}
}

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
