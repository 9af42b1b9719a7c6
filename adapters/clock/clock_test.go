package clock

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"focal/ports"
)

// ownTime embeds the machine's clock for its timers and tells the time its
// own way, as tests' clocks do; it cannot be compared.
type ownTime struct {
	System
	mu sync.Mutex
	at []time.Time
}

func (c *ownTime) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at[0]
}

type ownTimeByValue struct {
	System
	at []time.Time
}

func (c ownTimeByValue) Now() time.Time { return c.at[0] }

// Only the machine's clock itself says it is: one that embeds it and
// tells the time otherwise would have callers take time.Now's readings for
// its own.
func TestOnlyTheSystemClockIsTheMachines(t *testing.T) {
	assert.True(t, ports.IsMachineClock(System{}))
	assert.False(t, ports.IsMachineClock(&ownTime{}))
	assert.False(t, ports.IsMachineClock(ownTimeByValue{}))
	assert.False(t, ports.IsMachineClock(NewFake()))
}
