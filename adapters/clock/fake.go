package clock

import (
	"time"

	"github.com/jonboulle/clockwork"

	"focal/ports"
)

// Fake is a clockwork fake clock as a ports.Clock, for tests that drive
// renewals and timeouts by advancing it instead of waiting.
type Fake struct{ *clockwork.FakeClock }

var _ ports.Clock = Fake{}

// NewFake returns a Fake stopped at clockwork's fixed start time.
func NewFake() Fake { return Fake{clockwork.NewFakeClock()} }

// AfterFunc implements ports.Clock: f runs, on a goroutine of its own,
// when Advance passes d.
func (c Fake) AfterFunc(d time.Duration, f func()) ports.Timer { return c.FakeClock.AfterFunc(d, f) }
