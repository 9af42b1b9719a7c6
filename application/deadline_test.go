package application

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
)

type deadlineTestKey struct{}

// withTimeout's context answers as context.WithTimeout's does: before it
// ends, when its deadline passes, when its parent ends, and when stopped,
// whether or not anything waited on Done first.
func TestWithTimeoutAnswersAsContextWithTimeout(t *testing.T) {
	parentOf := func() (context.Context, context.CancelCauseFunc) {
		return context.WithCancelCause(context.WithValue(context.Background(), deadlineTestKey{}, "v"))
	}
	parentCause := errors.New("client left")
	cases := []struct {
		name    string
		timeout time.Duration
		end     func(c *deadlineContext, cancelParent context.CancelCauseFunc)
		err     error
		cause   error
	}{
		{"running", time.Hour, func(*deadlineContext, context.CancelCauseFunc) {}, nil, nil},
		{"deadline passed", -time.Second, func(*deadlineContext, context.CancelCauseFunc) {}, context.DeadlineExceeded, context.DeadlineExceeded},
		{"parent ended", time.Hour, func(_ *deadlineContext, cancel context.CancelCauseFunc) { cancel(parentCause) }, context.Canceled, parentCause},
		{"stopped", time.Hour, func(c *deadlineContext, _ context.CancelCauseFunc) { c.stop() }, context.Canceled, context.Canceled},
	}
	for _, tc := range cases {
		for _, waited := range []bool{false, true} {
			parent, cancelParent := parentOf()
			c := withTimeout(parent, tc.timeout)
			if waited {
				_ = c.Done()
			}
			tc.end(c, cancelParent)
			assert.Equal(t, tc.err, c.Err(), "%s (waited %v)", tc.name, waited)
			assert.Equal(t, tc.cause, context.Cause(c), "%s (waited %v): cause", tc.name, waited)
			assert.Equal(t, "v", c.Value(deadlineTestKey{}), "%s: the parent's values", tc.name)
			select {
			case <-c.Done():
				assert.NotNil(t, tc.err, "%s: Done closed while running", tc.name)
			default:
				assert.Nil(t, tc.err, "%s: Done open after the end", tc.name)
			}
			c.stop()
			cancelParent(nil)
		}
	}
}

// The deadline is the earlier of the timeout's and the parent's, and a
// context waiting on Done is woken when the deadline passes.
func TestWithTimeoutDeadlineWakesAWaiter(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	c := withTimeout(parent, 2*time.Hour)
	pd, _ := parent.Deadline()
	d, ok := c.Deadline()
	require.True(t, ok)
	require.Equal(t, pd, d)

	short := withTimeout(context.Background(), 10*time.Millisecond)
	defer short.stop()
	child, cancelChild := context.WithCancel(short)
	defer cancelChild()
	<-child.Done() // a child context ends with it
	require.ErrorIs(t, short.Err(), context.DeadlineExceeded)
	require.ErrorIs(t, child.Err(), context.DeadlineExceeded)
	require.ErrorIs(t, context.Cause(child), context.DeadlineExceeded)
}

// A deadline on a fake clock passes when the clock is advanced to it, not
// before, and ends it as context.WithDeadline's would: its Err, its
// cause and a context made from it all say DeadlineExceeded.
func TestClockDeadlinePassesWithItsClock(t *testing.T) {
	fake := clock.NewFake()
	parent := context.WithValue(context.Background(), deadlineTestKey{}, "v")
	c := withClockDeadline(parent, fake, fake.Now().Add(time.Second))
	defer c.stop()
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	d, ok := c.Deadline()
	require.True(t, ok)
	require.Equal(t, fake.Now().Add(time.Second), d)
	assert.Equal(t, "v", c.Value(deadlineTestKey{}), "the parent's values")

	fake.Advance(time.Second - time.Nanosecond)
	require.NoError(t, c.Err(), "a nanosecond early")
	fake.Advance(time.Nanosecond)
	<-child.Done() // the clock's timer ended c, and c its child
	assert.Equal(t, context.DeadlineExceeded, c.Err())
	assert.Equal(t, context.DeadlineExceeded, context.Cause(c))
	assert.Equal(t, context.DeadlineExceeded, child.Err())
	assert.Equal(t, context.DeadlineExceeded, context.Cause(child))
}

// A clock deadline already past ends its context at once; one stopped, or
// whose parent ended, ends as context.WithDeadline's does then.
func TestClockDeadlineEndsAsContextWithDeadline(t *testing.T) {
	fake := clock.NewFake()
	past := withClockDeadline(context.Background(), fake, fake.Now())
	assert.Equal(t, context.DeadlineExceeded, past.Err(), "the deadline had passed")
	past.stop()
	assert.Equal(t, context.DeadlineExceeded, past.Err(), "stopped after its deadline")

	stopped := withClockDeadline(context.Background(), fake, fake.Now().Add(time.Hour))
	stopped.stop()
	assert.Equal(t, context.Canceled, stopped.Err())
	fake.Advance(time.Hour)
	assert.Equal(t, context.Canceled, stopped.Err(), "its timer was stopped with it")

	parentCause := errors.New("client left")
	parent, cancelParent := context.WithCancelCause(context.Background())
	orphan := withClockDeadline(parent, fake, fake.Now().Add(time.Hour))
	defer orphan.stop()
	cancelParent(parentCause)
	<-orphan.Done()
	assert.Equal(t, context.Canceled, orphan.Err())
}
