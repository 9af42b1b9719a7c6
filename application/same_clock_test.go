package application

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"focal/ports"
)

// stillClock is a clock whose time never moves; settable, a pointer.
type stillClock struct{ now time.Time }

func (c *stillClock) Now() time.Time                              { return c.now }
func (c *stillClock) After(time.Duration) <-chan time.Time        { return nil }
func (c *stillClock) AfterFunc(time.Duration, func()) ports.Timer { return nil }

// valueClock is a clock passed by value: two of them are one clock when
// they are equal.
type valueClock struct{}

func (valueClock) Now() time.Time                              { return time.Time{} }
func (valueClock) After(time.Duration) <-chan time.Time        { return nil }
func (valueClock) AfterFunc(time.Duration, func()) ports.Timer { return nil }

// funcClock cannot be compared: comparing two would panic.
type funcClock struct{ now func() time.Time }

func (c funcClock) Now() time.Time                            { return c.now() }
func (funcClock) After(time.Duration) <-chan time.Time        { return nil }
func (funcClock) AfterFunc(time.Duration, func()) ports.Timer { return nil }

// A turn's start serves the policy cache and the gate only when they go
// by the use case's own clock: one clock, not two alike.
func TestSameClockIsOneClock(t *testing.T) {
	a, b := &stillClock{}, &stillClock{}
	assert.True(t, sameClock(a, a))
	assert.False(t, sameClock(a, b), "two clocks that read alike are still two")
	assert.True(t, sameClock(valueClock{}, valueClock{}))
	assert.False(t, sameClock(a, valueClock{}))
	f := funcClock{now: time.Now}
	assert.False(t, sameClock(f, f), "a clock that cannot be compared is taken as another")
}
