package harness

import (
	"sync"
	"time"

	"go.uber.org/fx"

	"focal/ports"
)

// Clock is a ports.Clock that moves only when a test advances it, so a test
// about time (a cache's refresh, a rate window, an idle timeout) waits on
// nothing.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ ports.Clock = (*Clock)(nil)

// NewClock returns a clock stopped at the machine's time now: JWTs and
// other parts still on the machine's clock see consistent times.
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now implements ports.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// WithClock makes an app started by Start read time from c everywhere it
// uses ports.Clock.
func WithClock(c *Clock) fx.Option {
	return fx.Decorate(func(ports.Clock) ports.Clock { return c })
}
