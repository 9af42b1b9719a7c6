package memory

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"focal/domain"
	"focal/ports"
)

// RateLimiter is an in-process rate limiter: a token bucket per key (from
// golang.org/x/time/rate) holding `limit` tokens and refilling them over one
// window. A fresh key allows exactly `limit` requests at once, then one more
// every window/limit. It is not shared between instances; the MongoDB store
// provides the shared one.
type RateLimiter struct {
	clock   ports.Clock
	mu      sync.Mutex
	buckets *simplelru.LRU[string, *bucket] // under mu
}

type bucket struct {
	limiter *rate.Limiter
	limit   int
	window  time.Duration
}

var _ ports.RateLimiter = (*RateLimiter)(nil)

// rateKeys bounds the buckets kept; an evicted key starts full again,
// which only ever errs towards allowing.
const rateKeys = 100_000

// NewRateLimiter returns an empty limiter.
func NewRateLimiter(clock ports.Clock) *RateLimiter {
	c, _ := simplelru.NewLRU[string, *bucket](rateKeys, nil)
	return &RateLimiter{clock: clock, buckets: c}
}

// TakeRate implements ports.RateLimiter.
func (l *RateLimiter) TakeRate(_ context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	now := l.clock.Now()
	if window <= 0 {
		return ports.RateDecision{}, domain.InvalidFields(domain.FieldError{Field: "window", Message: "must be positive"})
	}
	if limit < 1 {
		return ports.RateDecision{Limit: limit, Reset: now.Add(window), RetryAfter: window}, nil
	}
	perSecond := rate.Limit(float64(limit) / window.Seconds())
	l.mu.Lock()
	b, ok := l.buckets.Get(key)
	if !ok || b.limit != limit || b.window != window {
		b = &bucket{limiter: rate.NewLimiter(perSecond, limit), limit: limit, window: window}
		l.buckets.Add(key, b)
	}
	// Taken under mu, which every request takes anyway: the limiter's own
	// lock is then never contended (no other core holds its line), the
	// LRU needs none of its own (an lru.Cache locked it again), and the
	// tokens remaining are those this request left.
	allowed := b.limiter.AllowN(now, 1)
	tokens := b.limiter.TokensAt(now)
	l.mu.Unlock()

	d := ports.RateDecision{Allowed: allowed, Limit: limit, Remaining: max(0, int(math.Floor(tokens)))}
	// Full again once the missing tokens have refilled.
	d.Reset = now.Add(time.Duration((float64(limit) - tokens) / float64(perSecond) * float64(time.Second)))
	if !allowed {
		d.RetryAfter = time.Duration((1 - tokens) / float64(perSecond) * float64(time.Second))
	}
	return d, nil
}

// Sweep forgets every key whose bucket has refilled by now: a fresh bucket
// behaves exactly the same, so only memory changes.
func (l *RateLimiter) Sweep(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, k := range l.buckets.Keys() {
		if b, ok := l.buckets.Peek(k); ok && b.limiter.TokensAt(now) >= float64(b.limit) {
			l.buckets.Remove(k)
			n++
		}
	}
	return n
}

// Len is how many keys the limiter holds.
func (l *RateLimiter) Len() int { return l.buckets.Len() }
