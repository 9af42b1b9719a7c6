package application

import (
	"context"
	"sync"
	"time"

	"focal/ports"
)

// deadlineContext is context.WithTimeout's context made on demand. Every
// turn bounds three calls with a timeout (the engine run, the commit, the
// release), and most callees only ask Err, never wait on Done: a timer
// context, its timer and its cancel function cost five allocations and two
// timer-heap updates each. This one is the real context.WithDeadline
// context once anything waits on Done or the context ends (its deadline
// passes, its parent ends, or stop is called), and a lookup until then:
// Err, Value, Deadline and context.Cause answer as the real one would.
type deadlineContext struct {
	parent   context.Context
	deadline time.Time // the earlier of the timeout's and the parent's

	mu      sync.Mutex
	real    context.Context // context.WithDeadline(parent, deadline), once made
	cancel  context.CancelFunc
	stopped bool
}

// withTimeout is context.WithTimeout(parent, timeout), made on demand; the
// caller must call stop, as it would the cancel function.
func withTimeout(parent context.Context, timeout time.Duration) *deadlineContext {
	c := &deadlineContext{}
	c.start(parent, timeout)
	return c
}

// startTimeout is withTimeout(parent, timeout) made in c, a zero context
// the caller holds, or in a new one when c is nil.
func startTimeout(c *deadlineContext, parent context.Context, timeout time.Duration) *deadlineContext {
	if c == nil {
		return withTimeout(parent, timeout)
	}
	c.start(parent, timeout)
	return c
}

// startTimeoutAt is startTimeout with the timeout counted from now, a
// reading of time.Now the caller has just taken for its own use.
func startTimeoutAt(c *deadlineContext, parent context.Context, timeout time.Duration, now time.Time) *deadlineContext {
	if c == nil {
		c = &deadlineContext{}
	}
	c.startAt(parent, timeout, now)
	return c
}

// start sets up a zero c as withTimeout(parent, timeout), for a context
// held in a struct of the caller's (a turn's own, say).
func (c *deadlineContext) start(parent context.Context, timeout time.Duration) {
	c.startAt(parent, timeout, time.Now())
}

// startAt is start with the timeout counted from now.
func (c *deadlineContext) startAt(parent context.Context, timeout time.Duration, now time.Time) {
	d := now.Add(timeout)
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	c.parent, c.deadline = parent, d
}

// made is the real context, made first when c has ended or when force.
func (c *deadlineContext) made(force bool) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real != nil {
		return c.real
	}
	if !force && !c.stopped && c.parent.Err() == nil && time.Now().Before(c.deadline) {
		return nil
	}
	c.real, c.cancel = context.WithDeadline(c.parent, c.deadline)
	if c.stopped {
		c.cancel()
	}
	return c.real
}

// stop ends c, as context.WithTimeout's cancel function does.
func (c *deadlineContext) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
}

// Deadline implements context.Context.
func (c *deadlineContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context: waiting needs the real context.
func (c *deadlineContext) Done() <-chan struct{} { return c.made(true).Done() }

// Err implements context.Context.
func (c *deadlineContext) Err() error {
	if real := c.made(false); real != nil {
		return real.Err()
	}
	return nil
}

// Value implements context.Context. Until c ends, the parent's values are
// c's (context.Cause finds the parent's cancellation, which has no cause
// while c runs); once it has ended, the real context answers.
func (c *deadlineContext) Value(key any) any {
	if real := c.made(false); real != nil {
		return real.Value(key)
	}
	return c.parent.Value(key)
}

// attemptContext is the context a store call runs under, which the caller
// ends with stop once the call returned: a deadlineContext, or a
// clockDeadline.
type attemptContext interface {
	context.Context
	stop()
}

// clockDeadline is context.WithDeadline on a clock other than the
// machine's (a test's fake): it ends when that clock passes its deadline,
// as a timer of the clock tells it, and its Err is then
// context.DeadlineExceeded, as the standard one's. A test then makes a
// deadline pass by advancing its clock, not by waiting it out
// (clockwork.WithDeadline does the same, for clockwork's own clock only).
type clockDeadline struct {
	// Context is what ends c: its parent, its timer or stop.
	context.Context
	parent   context.Context
	deadline time.Time // the earlier of at and the parent's
	cancel   context.CancelCauseFunc
	timer    ports.Timer // nil when the deadline had passed already
}

// withClockDeadline is context.WithDeadline(parent, at) with at a time of
// clock; the caller must call stop, as it would the cancel function.
func withClockDeadline(parent context.Context, clock ports.Clock, at time.Time) *clockDeadline {
	ctx, cancel := context.WithCancelCause(parent)
	c := &clockDeadline{Context: ctx, parent: parent, deadline: at, cancel: cancel}
	if pd, ok := parent.Deadline(); ok && pd.Before(at) {
		c.deadline = pd
	}
	if left := at.Sub(clock.Now()); left > 0 {
		c.timer = clock.AfterFunc(left, func() { cancel(context.DeadlineExceeded) })
	} else {
		cancel(context.DeadlineExceeded)
	}
	return c
}

// Deadline implements context.Context.
func (c *clockDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

// Err implements context.Context: context.DeadlineExceeded once the
// deadline passed (the cancellation that ended c has it as its cause).
func (c *clockDeadline) Err() error {
	err := c.Context.Err()
	if err != nil && context.Cause(c.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}

// Value implements context.Context with the parent's values: the
// cancellation inside c stays hidden, so a context made from c ends with
// c's Err, not with that cancellation's context.Canceled.
func (c *clockDeadline) Value(key any) any { return c.parent.Value(key) }

// stop ends c, as context.WithDeadline's cancel function does.
func (c *clockDeadline) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.cancel(context.Canceled)
}
