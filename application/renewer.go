package application

import (
	"sync"
	"time"

	"focal/ports"
)

// keepRenewing calls renew every interval on clock until stop is called or
// renew returns false. Each call sets the timer for the next one, so
// nothing waits between them: a turn that waits minutes on a slow model
// costs a timer, not a goroutine. stop waits for a renewal in progress,
// and none starts after it.
func keepRenewing(clock ports.Clock, every time.Duration, renew func() (again bool)) (stop func()) {
	r := &renewer{}
	r.start(clock, every, renew)
	return r.stop
}

// renewer is one keepRenewing's state; its zero value is ready to start
// (a prepared turn holds one for its lease, saving the allocations).
type renewer struct {
	clock ports.Clock
	every time.Duration
	renew func() bool

	// mu is held through a renewal, so stop waits for one in progress
	// and none starts after it.
	mu      sync.Mutex
	timer   ports.Timer
	stopped bool
}

// start sets the timer for the first renewal.
func (r *renewer) start(clock ports.Clock, every time.Duration, renew func() (again bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock, r.every, r.renew = clock, every, renew
	r.timer = clock.AfterFunc(every, r.tick)
}

// tick renews and re-arms the timer for the next renewal. The timer is
// the one start set: a new one each renewal was garbage that, on a turn
// waiting minutes for a slow model, piled up in the heap between
// collections (make bench, idle streams: 3 KiB per stream over two idle
// minutes, kept by the process once collected).
func (r *renewer) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || !r.renew() {
		return
	}
	r.timer.Reset(r.every)
}

func (r *renewer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	r.timer.Stop()
}
