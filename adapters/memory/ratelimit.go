package memory

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"focal/domain"
	"focal/ports"
)

// RateLimiter is an in-process rate limiter: a token bucket per key
// holding `limit` tokens and refilling them over one window, counted as
// golang.org/x/time/rate's Limiter counts them (AllowN, then TokensAt). A
// fresh key allows exactly `limit` requests at once, then one more every
// window/limit. It is not shared between instances; the MongoDB store
// provides the shared one.
//
// Every request takes one lock, mu, for the lookup and the bucket's
// arithmetic both. (An lru.Cache, locked by itself, and a rate.Limiter,
// locked twice a request, were four locks a request on lines every core's
// requests share; the buckets' sums are a few dozen instructions, and
// TestRateLimiterCountsAsRateLimiter holds them to rate.Limiter's.)
type RateLimiter struct {
	clock   ports.Clock
	mu      sync.Mutex
	buckets *simplelru.LRU[string, *bucket]
}

// bucket is one key's tokens: rate.Limiter's state, with the limit and
// window it was made for.
type bucket struct {
	perSecond float64 // the refill rate, rate.Limit's
	limit     int     // the burst, and the request's limit
	window    time.Duration
	tokens    float64
	last      time.Time // when tokens was counted
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
	perSecond := float64(limit) / window.Seconds()
	l.mu.Lock()
	b, ok := l.buckets.Get(key)
	if !ok || b.limit != limit || b.window != window {
		b = &bucket{perSecond: perSecond, limit: limit, window: window, tokens: float64(limit)}
		l.buckets.Add(key, b)
	}
	allowed := b.take(now)
	tokens := b.tokensAt(now)
	l.mu.Unlock()

	d := ports.RateDecision{Allowed: allowed, Limit: limit, Remaining: max(0, int(math.Floor(tokens)))}
	// Full again once the missing tokens have refilled.
	d.Reset = now.Add(time.Duration((float64(limit) - tokens) / perSecond * float64(time.Second)))
	if !allowed {
		d.RetryAfter = time.Duration((1 - tokens) / perSecond * float64(time.Second))
	}
	return d, nil
}

// take takes one token at t if there is one, as rate.Limiter's AllowN(t,
// 1) does: a request is allowed when the wait for its token, rounded down
// to a nanosecond, is none.
func (b *bucket) take(t time.Time) bool {
	tokens := b.tokensAt(t) - 1
	if tokens < 0 && b.waitFor(-tokens) > 0 {
		return false
	}
	b.last, b.tokens = t, tokens
	return true
}

// tokensAt is the tokens the bucket holds at t, as rate.Limiter's advance
// counts them: refilled for the time since last (none when t is before
// it), up to the limit.
func (b *bucket) tokensAt(t time.Time) float64 {
	last := b.last
	if t.Before(last) {
		last = t
	}
	delta := t.Sub(last).Seconds() * b.perSecond
	tokens := b.tokens + delta
	if burst := float64(b.limit); tokens > burst {
		tokens = burst
	}
	return tokens
}

// waitFor is how long tokens take to refill, as rate.Limit's
// durationFromTokens counts it.
func (b *bucket) waitFor(tokens float64) time.Duration {
	if b.perSecond <= 0 {
		return math.MaxInt64
	}
	d := tokens / b.perSecond * float64(time.Second)
	if d > float64(math.MaxInt64) {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// Sweep forgets every key whose bucket has refilled by now: a fresh bucket
// behaves exactly the same, so only memory changes.
func (l *RateLimiter) Sweep(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, k := range l.buckets.Keys() {
		if b, ok := l.buckets.Peek(k); ok && b.tokensAt(now) >= float64(b.limit) {
			l.buckets.Remove(k)
			n++
		}
	}
	return n
}

// Len is how many keys the limiter holds.
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buckets.Len()
}
