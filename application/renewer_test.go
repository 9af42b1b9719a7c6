package application

import (
	"runtime/debug"
	"sync"
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

// Renewers started from one pool hand their timer on: the next renewer
// runs on the timer the last one stopped, and only its own renewals
// come, each a whole interval after it started; a timer whose call had
// started when its renewer stopped is not handed on.
func TestPooledRenewalsHandTheirTimerOn(t *testing.T) {
	// A collection may empty a sync.Pool: none runs meanwhile.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	c := &countingClock{Fake: clock.NewFake()}
	var slots sync.Pool
	calls := make(chan string, 4)
	renewing := func(name string) renewFunc {
		return func() bool {
			calls <- name
			return true
		}
	}
	var first, second renewer
	first.startPooled(c, 5*time.Second, renewing("first"), &slots)
	c.Advance(2 * time.Second)
	first.stop()
	second.startPooled(c, 5*time.Second, renewing("second"), &slots)
	if poolsKeep {
		require.Equal(t, int32(1), c.timers.Load(), "the second renewer's timer is the first's")
	}
	c.Advance(4 * time.Second) // 6 s after the first started, 4 after the second
	require.NoError(t, c.BlockUntilContext(t.Context(), 1))
	require.Empty(t, calls, "no renewal before the second renewer's interval, none of the stopped one's")
	c.Advance(time.Second)
	select {
	case name := <-calls:
		require.Equal(t, "second", name)
	case <-time.After(time.Minute):
		t.Fatal("the second renewer's renewal did not come")
	}
	require.NoError(t, c.BlockUntilContext(t.Context(), 1)) // re-armed after the renewal
	second.stop()

	// A renewal that has started keeps its timer from the pool.
	var third, fourth renewer
	ran := make(chan struct{})
	third.startPooled(c, 5*time.Second, renewFunc(func() bool { close(ran); return false }), &slots)
	if poolsKeep {
		require.Equal(t, int32(1), c.timers.Load(), "the third renewer's timer is the second's")
	}
	c.Advance(5 * time.Second)
	select {
	case <-ran:
	case <-time.After(time.Minute):
		t.Fatal("the third renewer's renewal did not come")
	}
	third.stop()
	timers := c.timers.Load()
	fourth.startPooled(c, 5*time.Second, renewing("fourth"), &slots)
	defer fourth.stop()
	require.Equal(t, timers+1, c.timers.Load(), "a fired timer was handed on")
}

// within returns the next value of ch, failing the test after a minute.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

// gatedClock is a fake clock whose timer calls, once due, wait until the
// test lets them go: a renewal timer that fired just as its renewer was
// stopped, its call not yet begun.
type gatedClock struct {
	clock.Fake
	fired chan struct{} // a due call waits at the gate
	gate  chan struct{} // closed: the waiting calls go on
	ran   chan struct{} // a call has returned
}

func (c *gatedClock) AfterFunc(d time.Duration, f func()) ports.Timer {
	return c.Fake.AfterFunc(d, func() {
		c.fired <- struct{}{}
		<-c.gate
		f()
		c.ran <- struct{}{}
	})
}

// A renewal whose timer fired before stop, but which had not begun, does
// not renew once it runs: after stop no renewal starts, even one stop
// could no longer keep from being called (a late lease renewal after the
// turn released its session). Pooled or not.
func TestNoRenewalStartsAfterStop(t *testing.T) {
	for _, pooled := range []bool{false, true} {
		c := &gatedClock{Fake: clock.NewFake(), fired: make(chan struct{}, 1), gate: make(chan struct{}), ran: make(chan struct{}, 1)}
		renewed := make(chan struct{}, 1)
		renewal := renewFunc(func() bool {
			renewed <- struct{}{}
			return true
		})
		var r renewer
		if pooled {
			var slots sync.Pool
			r.startPooled(c, 5*time.Second, renewal, &slots)
		} else {
			r.start(c, 5*time.Second, renewal)
		}
		c.Advance(5 * time.Second)
		within(t, c.fired, "due renewal")
		r.stop() // too late to keep the call from starting
		close(c.gate)
		within(t, c.ran, "call's return")
		require.Empty(t, renewed, "pooled %v: a renewal ran after stop", pooled)
	}
}
