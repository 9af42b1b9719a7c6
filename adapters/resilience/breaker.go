package resilience

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"focal/domain"
)

// halfOpenRetryAfter is the hint given while a half-open breaker's single
// probe is in flight: the verdict is due within one call.
const halfOpenRetryAfter = time.Second

// breaker is one dependency's two-step circuit breaker plus the moment it
// last opened, which gobreaker does not expose and RetryAfter needs.
type breaker struct {
	name string
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]
	open time.Duration

	mu       sync.Mutex
	openedAt time.Time
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
		if state := evicted.cb.State(); state != gobreaker.StateClosed {
			g.obs.StateChange(evicted.name, state.String(), gobreaker.StateClosed.String())
		}
	}
	return b
}

func (g *Guard) newBreaker(name string) *breaker {
	b := &breaker{name: name, open: g.cfg.BreakerOpen}
	failures := g.cfg.BreakerFailures
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1, // one probe while half-open
		Timeout:     g.cfg.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.mu.Lock()
				b.openedAt = time.Now()
				b.mu.Unlock()
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
	left := time.Until(b.openedAt.Add(b.open))
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
	return b.cb.State().String()
}
