// Package clock provides the real clock behind ports.Clock.
package clock

import (
	"time"

	"focal/ports"
)

// System reads the machine's clock.
type System struct{}

var _ ports.MachineClock = System{}

// Machine implements ports.MachineClock: System reads time.Now.
func (System) Machine() ports.Clock { return System{} }

// Now implements ports.Clock.
func (System) Now() time.Time { return time.Now() }

// After implements ports.Clock.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// AfterFunc implements ports.Clock.
func (System) AfterFunc(d time.Duration, f func()) ports.Timer { return time.AfterFunc(d, f) }
