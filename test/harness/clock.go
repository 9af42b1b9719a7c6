package harness

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/fx"

	"focal/ports"
)

// Clock is a ports.Clock that moves only when a test advances it, so a test
// about time (a cache's refresh, a rate window, an idle timeout, a lease
// renewal) waits on nothing.
type Clock struct {
	fake *clockwork.FakeClock
}

var _ ports.Clock = (*Clock)(nil)

// NewClock returns a clock stopped at the machine's time now: JWTs and
// other parts still on the machine's clock see consistent times.
func NewClock() *Clock { return &Clock{fake: clockwork.NewFakeClockAt(time.Now())} }

// Now implements ports.Clock.
func (c *Clock) Now() time.Time { return c.fake.Now() }

// After implements ports.Clock: the channel fires when Advance passes d.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.fake.After(d) }

// AfterFunc implements ports.Clock: f runs when Advance passes d.
func (c *Clock) AfterFunc(d time.Duration, f func()) ports.Timer { return c.fake.AfterFunc(d, f) }

// Advance moves the clock forward by d, firing the waits it passes.
func (c *Clock) Advance(d time.Duration) { c.fake.Advance(d) }

// BlockUntil waits until n waits are pending on the clock (After or
// AfterFunc), so that an Advance that follows reaches them.
func (c *Clock) BlockUntil(ctx context.Context, n int) error { return c.fake.BlockUntilContext(ctx, n) }

// WithClock makes an app started by Start read time from c everywhere it
// uses ports.Clock.
func WithClock(c *Clock) fx.Option {
	return fx.Decorate(func(ports.Clock) ports.Clock { return c })
}
