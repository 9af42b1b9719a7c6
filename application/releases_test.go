package application_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/application"
	"focal/domain"
)

// outage is a release that fails while the store is down and signals when
// it goes through.
type outage struct {
	down     atomic.Bool
	attempts atomic.Int32
	through  chan struct{}
}

func (o *outage) release(context.Context) error {
	o.attempts.Add(1)
	if o.down.Load() {
		return unreachable()
	}
	o.through <- struct{}{}
	return nil
}

// A release that could not reach the store is retried in the background
// and goes through once the store is back; one that failed for another
// reason is not retried.
func TestReleasesAreRetriedWhenTheStoreIsBack(t *testing.T) {
	r := application.NewReleases(10, clock.NewFake())
	o := &outage{through: make(chan struct{}, 1)}
	o.down.Store(true)
	require.Error(t, r.Release(t.Context(), time.Minute, o.release))
	require.Equal(t, 1, r.Pending())

	other := func(context.Context) error { return domain.Errorf(domain.CodeNotFound, "gone") }
	require.Error(t, r.Release(t.Context(), time.Minute, other))
	require.Equal(t, 1, r.Pending(), "only an unreachable store is worth retrying")

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	ran := make(chan struct{})
	go func() { defer close(ran); r.Run(ctx) }()
	o.down.Store(false)
	await(t, o.through, "release after the store came back")
	// The release signals from inside its call; Run counts it once the call
	// has returned, and returns itself only after that.
	stop()
	<-ran
	retried, dropped := r.Stats()
	assert.EqualValues(t, 1, retried)
	assert.Zero(t, dropped)
}

// The queue is bounded, and a release that would have lapsed by itself is
// not retried: a retry takes the key or lease over then anyway.
func TestReleasesAreBoundedAndLapse(t *testing.T) {
	clock := clock.NewFake()
	r := application.NewReleases(2, clock)
	o := &outage{through: make(chan struct{}, 4)}
	o.down.Store(true)
	for range 3 {
		_ = r.Release(t.Context(), time.Second, o.release)
	}
	assert.Equal(t, 2, r.Pending())
	_, dropped := r.Stats()
	assert.EqualValues(t, 1, dropped)

	clock.Advance(time.Second)
	o.down.Store(false)
	r.Flush(t.Context())
	assert.Zero(t, r.Pending())
	assert.EqualValues(t, 3, o.attempts.Load(), "lapsed releases are not tried again")
}

// A nil queue only runs the release.
func TestNoReleasesQueueRunsOnce(t *testing.T) {
	var r *application.Releases
	o := &outage{through: make(chan struct{}, 1)}
	o.down.Store(true)
	require.Error(t, r.Release(t.Context(), time.Minute, o.release))
	assert.EqualValues(t, 1, o.attempts.Load())
}
