package application

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/ports"
)

// countingClock counts the timers AfterFunc sets.
type countingClock struct {
	clock.Fake
	timers atomic.Int32
}

func (c *countingClock) AfterFunc(d time.Duration, f func()) ports.Timer {
	c.timers.Add(1)
	return c.Fake.AfterFunc(d, f)
}

// A turn's renewals re-arm the one timer set when they started: a new
// timer per renewal is garbage every few seconds for as long as a turn
// waits on its model, which for thousands of idle streams piled up
// between collections (make bench, idle streams). Each renewal still
// comes a whole interval after the one before, and none after stop.
func TestRenewalsReArmOneTimer(t *testing.T) {
	c := &countingClock{Fake: clock.NewFake()}
	renewed := make(chan time.Time, 1)
	stop := keepRenewing(c, 5*time.Second, func() bool {
		renewed <- c.Now()
		return true
	})
	start := c.Now()
	for i := 1; i <= 4; i++ {
		require.NoError(t, c.BlockUntilContext(t.Context(), 1))
		c.Advance(5 * time.Second)
		select {
		case at := <-renewed:
			require.Equal(t, start.Add(time.Duration(i)*5*time.Second), at)
		case <-time.After(time.Minute):
			t.Fatalf("renewal %d did not come", i)
		}
	}
	stop()
	c.Advance(time.Minute)
	require.Empty(t, renewed, "no renewal after stop")
	require.Equal(t, int32(1), c.timers.Load(), "timers set for four renewals")
}
