package application

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
