package resilience

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/sony/gobreaker/v2"

	"focal/domain"
)

// halfOpenRetryAfter is the hint given while a half-open breaker's single
// probe is in flight: the verdict is due within one call.
const halfOpenRetryAfter = time.Second

// breaker is one dependency's two-step circuit breaker. gobreaker counts
// the calls and moves the state, but it reads the machine's clock and takes
// no other; so the open interval is kept here, on the Guard's clock, and
// gobreaker's own is the shortest it accepts. gobreaker then half-opens at
// the first call it sees after this interval, and sees no call during it:
// calls are refused here, and a call that began before the breaker opened
// reports its end to nobody (gobreaker would drop it, but could half-open
// early on seeing it).
type breaker struct {
	name  string
	cb    *gobreaker.TwoStepCircuitBreaker[struct{}]
	open  time.Duration
	clock clockwork.Clock

	mu sync.Mutex
	// openUntil is when the open interval ends; opens counts the openings,
	// so a call tells whether the breaker opened since it began.
	openUntil time.Time
	opens     int

	// reporting lets one call at a time report its end, so none can see
	// the breaker as it was before another's report opened it.
	reporting sync.Mutex
}

// allow asks the breaker for a call; done reports the call's end.
func (b *breaker) allow() (done func(error), err error) {
	opens, open := b.openState()
	if open {
		return nil, gobreaker.ErrOpenState
	}
	finish, err := b.cb.Allow()
	if err != nil {
		return nil, err
	}
	return func(err error) {
		b.reporting.Lock()
		defer b.reporting.Unlock()
		if now, _ := b.openState(); now == opens {
			finish(err)
		}
	}, nil
}

// openState returns the openings so far and whether the breaker is in its
// open interval now.
func (b *breaker) openState() (opens int, open bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opens, b.clock.Now().Before(b.openUntil)
}

// opened starts the open interval: gobreaker has just opened.
func (b *breaker) opened() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.openUntil = b.clock.Now().Add(b.open)
	b.opens++
}

// state is "closed", "open" or "half-open".
func (b *breaker) state() string {
	if _, open := b.openState(); open {
		return gobreaker.StateOpen.String()
	}
	return b.cb.State().String()
}

// judged carries the Guard's classification to the breaker's
// IsSuccessful/IsExcluded hooks, which only see the error.
type judged struct {
	err   error
	class Class
}

func (j *judged) Error() string { return j.err.Error() }
func (j *judged) Unwrap() error { return j.err }

func outcome(err error) Outcome {
	if err == nil {
		return Success
	}
	var j *judged
	if errors.As(err, &j) {
		return j.class.Counts
	}
	return Classify(err).Counts
}

// breaker returns name's breaker, creating it on first use. A breaker
// forgotten to make room is reported closed, which it is from now on.
func (g *Guard) breaker(name string) *breaker {
	g.mu.Lock()
	if b, ok := g.breakers.Get(name); ok {
		g.mu.Unlock()
		return b
	}
	b := g.newBreaker(name)
	g.breakers.Add(name, b)
	evicted := g.evicted
	g.evicted = nil
	g.mu.Unlock()
	if evicted != nil {
		if state := evicted.state(); state != gobreaker.StateClosed.String() {
			g.obs.StateChange(evicted.name, state, gobreaker.StateClosed.String())
		}
	}
	return b
}

func (g *Guard) newBreaker(name string) *breaker {
	b := &breaker{name: name, open: g.cfg.BreakerOpen, clock: g.clock}
	failures := g.cfg.BreakerFailures
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,               // one probe while half-open
		Timeout:     time.Nanosecond, // the open interval is the breaker's own
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.opened()
			}
			g.obs.StateChange(name, from.String(), to.String())
		},
		IsSuccessful: func(err error) bool { return outcome(err) == Success },
		IsExcluded:   func(err error) bool { return outcome(err) == Ignored },
	})
	return b
}

// remaining is how long the breaker stays open.
func (b *breaker) remaining() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	left := b.openUntil.Sub(b.clock.Now())
	if left < time.Millisecond {
		left = time.Millisecond // about to half-open; never report "no hint"
	}
	return left
}

// rejected is the error for a call the breaker refused.
func (g *Guard) rejected(name string, b *breaker, err error) error {
	wait := halfOpenRetryAfter
	if errors.Is(err, gobreaker.ErrOpenState) {
		wait = b.remaining()
	}
	return &domain.Error{
		Code:       g.cfg.UnavailableCode,
		Message:    fmt.Sprintf("%s is unavailable: its circuit breaker is open after repeated failures", name),
		RetryAfter: wait,
		Cause:      err,
	}
}

// BreakerState returns name's breaker state ("closed", "open",
// "half-open"), or "closed" for a dependency not called yet.
func (g *Guard) BreakerState(name string) string {
	g.mu.Lock()
	b, ok := g.breakers.Peek(name)
	g.mu.Unlock()
	if !ok {
		return gobreaker.StateClosed.String()
	}
	return b.state()
}
