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
// golang.org/x/time/rate's Limiter counts them. A fresh key allows exactly
// `limit` requests at once, then one more every window/limit. It is not
// shared between instances; the MongoDB store provides the shared one.
type RateLimiter struct {
	clock   ports.Clock
	mu      sync.Mutex
	buckets *simplelru.LRU[string, *bucket] // under mu
}

// bucket is one key's tokens, under RateLimiter.mu: rate.Limiter's
// arithmetic (advance, reserveN) without its own lock and reservation,
// which every request took twice under mu, where nothing contends for
// them. TestBucketCountsAsRateLimiterDoes holds the two to the same
// answers.
type bucket struct {
	limit     int
	window    time.Duration
	perSecond float64 // rate.Limit's value: limit / window in seconds
	tokens    float64 // at last
	last      time.Time
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
		b = &bucket{limit: limit, window: window, perSecond: perSecond}
		l.buckets.Add(key, b)
	}
	// Taken under mu, which every request takes anyway: the LRU needs no
	// lock of its own (an lru.Cache locked it again), and the tokens
	// remaining are those this request left.
	allowed, tokens := b.take(now)
	l.mu.Unlock()

	d := ports.RateDecision{Allowed: allowed, Limit: limit, Remaining: max(0, int(math.Floor(tokens))), At: now}
	// Full again once the missing tokens have refilled.
	d.Reset = now.Add(time.Duration((float64(limit) - tokens) / perSecond * float64(time.Second)))
	if !allowed {
		d.RetryAfter = time.Duration((1 - tokens) / perSecond * float64(time.Second))
	}
	return d, nil
}

// tokensAt is the bucket's tokens at now, refilled since last (rate's
// advance).
func (b *bucket) tokensAt(now time.Time) float64 {
	last := b.last
	if now.Before(last) {
		last = now
	}
	tokens := b.tokens + now.Sub(last).Seconds()*b.perSecond
	if burst := float64(b.limit); tokens > burst {
		tokens = burst
	}
	return tokens
}

// take takes one token at now if the bucket has it and returns whether it
// did and the tokens left. As rate's AllowN(now, 1), it has it when the
// wait for it would be none: under a nanosecond, which rate rounds away.
func (b *bucket) take(now time.Time) (bool, float64) {
	tokens := b.tokensAt(now)
	if left := tokens - 1; left >= 0 || -left/b.perSecond*float64(time.Second) < 1 {
		b.last, b.tokens = now, left
		return true, left
	}
	return false, tokens
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
func (l *RateLimiter) Len() int { return l.buckets.Len() }
