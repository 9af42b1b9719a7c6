package sqlkit

import (
	"sync"
	"time"
)

// SweepEvery is how often a store deletes expired idempotency records and
// rate windows; reads check expiry themselves.
const SweepEvery = time.Minute

// Sweeper runs a store's sweep of expired records every SweepEvery, on
// one goroutine it owns, from Start until Stop.
type Sweeper struct {
	stop chan struct{}
	done sync.WaitGroup
}

// Start starts calling sweep every SweepEvery.
func (s *Sweeper) Start(sweep func()) {
	s.stop = make(chan struct{})
	stop := s.stop
	s.done.Go(func() {
		t := time.NewTicker(SweepEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sweep()
			}
		}
	})
}

// Stop stops the sweeps and waits for one under way; a Sweeper never
// started, or stopped already, has nothing to stop.
func (s *Sweeper) Stop() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	s.done.Wait()
	s.stop = nil
}
