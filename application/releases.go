package application

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"focal/domain"
	"focal/ports"
)

// Releases retries, in the background, releases that failed because the
// store could not be reached: a session lease or an idempotency key given
// up while the store was down is freed as soon as it is back, instead of
// one lease TTL or one hold later. A release is worth retrying only until
// what it frees would lapse by itself, so each is dropped then; the queue
// is bounded, and a release that does not fit is left to lapse.
//
// Retrying late is safe: every release names its holder (a lease's fence,
// a claim's owner), so one that lands after the lease or claim changed
// hands frees nothing.
type Releases struct {
	clock ports.Clock
	limit int

	mu      sync.Mutex
	pending []pendingRelease
	wake    chan struct{} // one value: there is something to retry

	retried, dropped atomic.Int64
}

type pendingRelease struct {
	release func(context.Context) error
	until   time.Time
}

// ReleaseAttempt bounds each attempt of a release.
const ReleaseAttempt = 5 * time.Second

// NewReleases returns an empty queue holding at most limit releases.
func NewReleases(limit int, clock ports.Clock) *Releases {
	return &Releases{clock: clock, limit: max(limit, 1), wake: make(chan struct{}, 1)}
}

// Release runs release once; when the store was unreachable it is queued
// for the background to retry until lapse passes. A nil *Releases only
// runs it.
func (r *Releases) Release(ctx context.Context, lapse time.Duration, release func(context.Context) error) error {
	err := attemptRelease(ctx, release)
	if domain.IsCode(err, domain.CodeStoreUnavailable) {
		r.queue(lapse, release)
	}
	return err
}

// attemptRelease runs release once, within ReleaseAttempt, also when the
// caller's request has ended. release is only called: a method value
// passed here need not be allocated.
func attemptRelease(ctx context.Context, release func(context.Context) error) error {
	return attemptReleaseIn(nil, ctx, release)
}

// attemptReleaseIn is attemptRelease bounded by attempt, a zero context of
// the caller's, or by one of its own when attempt is nil.
func attemptReleaseIn(attempt *deadlineContext, ctx context.Context, release func(context.Context) error) error {
	attempt = startTimeout(attempt, detach(ctx), ReleaseAttempt)
	defer attempt.stop()
	return release(attempt)
}

// queue keeps a release that found the store unreachable, for the
// background to retry until lapse passes; a nil *Releases drops it.
func (r *Releases) queue(lapse time.Duration, release func(context.Context) error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) >= r.limit {
		r.dropped.Add(1)
		return
	}
	r.pending = append(r.pending, pendingRelease{release: release, until: r.clock.Now().Add(lapse)})
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Pending is how many releases wait to be retried.
func (r *Releases) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Stats are how many queued releases went through later, and how many did
// not fit in the queue.
func (r *Releases) Stats() (retried, dropped int64) { return r.retried.Load(), r.dropped.Load() }

// Run retries the queued releases, oldest first, each with backoff until
// it goes through, fails for good, or lapses, until ctx ends.
func (r *Releases) Run(ctx context.Context) {
	for {
		next, ok := r.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
				continue
			}
		}
		r.retry(ctx, next)
		if ctx.Err() != nil {
			return
		}
	}
}

// Flush tries every queued release once more, within ctx: at shutdown,
// after the last turn ended and before the store closes.
func (r *Releases) Flush(ctx context.Context) {
	for ctx.Err() == nil {
		next, ok := r.next()
		if !ok {
			return
		}
		attempt, cancel := context.WithTimeout(ctx, ReleaseAttempt)
		if next.release(attempt) == nil {
			r.retried.Add(1)
		}
		cancel()
	}
}

// next takes the oldest release that has not lapsed.
func (r *Releases) next() (pendingRelease, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	for len(r.pending) > 0 {
		p := r.pending[0]
		r.pending[0] = pendingRelease{}
		r.pending = r.pending[1:]
		if now.Before(p.until) {
			return p, true
		}
	}
	r.pending = nil // let the emptied backing array go
	return pendingRelease{}, false
}

func (r *Releases) retry(ctx context.Context, p pendingRelease) {
	left := p.until.Sub(r.clock.Now())
	if left <= 0 {
		return
	}
	policy := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 2 * time.Second}
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt, cancel := context.WithTimeout(ctx, ReleaseAttempt)
		defer cancel()
		err := p.release(attempt)
		if err != nil && !domain.IsCode(err, domain.CodeStoreUnavailable) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(policy), backoff.WithMaxElapsedTime(left))
	if err == nil {
		r.retried.Add(1)
	}
}
