package application

import (
	"sync"
	"sync/atomic"
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
	r.start(clock, every, renewFunc(renew))
	return r.stop
}

// renewal is what a renewer renews: renew reports whether to go on.
type renewal interface {
	renew() (again bool)
}

// renewFunc is a func as a renewal.
type renewFunc func() bool

func (f renewFunc) renew() bool { return f() }

// renewer is one keepRenewing's state; its zero value is ready to start
// (a prepared turn holds one for its lease, saving the allocations).
type renewer struct {
	clock ports.Clock
	every time.Duration
	// renewal is renewed at each tick: an interface, so a prepared turn
	// renews its lease through itself rather than a closure of its own.
	renewal renewal

	// mu is held through a renewal, so stop waits for one in progress
	// and none starts after it.
	mu      sync.Mutex
	timer   ports.Timer
	stopped bool
	// slot is the pooled timer the renewals run on, when start took one
	// from a pool (startPooled): stop puts it back.
	slot *renewSlot
}

// renewSlot is a renewal timer that outlives the renewals it served: set
// once, with the call to fire, and handed from one renewer to the next
// (startPooled), where a timer and its callback were two allocations a
// turn. A slot goes back to its pool only when stopping its timer kept
// the call from starting, so no call of its last owner's is still to run
// once another owns it.
type renewSlot struct {
	timer ports.Timer
	owner atomic.Pointer[renewer]
	pool  *sync.Pool // the slot's, whose timers are all one clock's
}

func (s *renewSlot) fire() {
	if r := s.owner.Load(); r != nil {
		r.tick()
	}
}

// start sets the timer for the first renewal.
func (r *renewer) start(clock ports.Clock, every time.Duration, renewal renewal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock, r.every, r.renewal = clock, every, renewal
	r.timer = clock.AfterFunc(every, r.tick)
}

// startPooled is start on a timer of slots, whose timers are clock's:
// one a renewer before this one stopped, or a new one.
func (r *renewer) startPooled(clock ports.Clock, every time.Duration, renewal renewal, slots *sync.Pool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock, r.every, r.renewal = clock, every, renewal
	slot, _ := slots.Get().(*renewSlot)
	if slot == nil {
		slot = &renewSlot{pool: slots}
		slot.owner.Store(r)
		slot.timer = clock.AfterFunc(every, slot.fire)
	} else {
		slot.owner.Store(r)
		slot.timer.Reset(every)
	}
	r.slot, r.timer = slot, slot.timer
}

// tick renews and re-arms the timer for the next renewal. The timer is
// the one start set: a new one each renewal was garbage that, on a turn
// waiting minutes for a slow model, piled up in the heap between
// collections (make bench, idle streams: 3 KiB per stream over two idle
// minutes, kept by the process once collected).
func (r *renewer) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || !r.renewal.renew() {
		return
	}
	r.timer.Reset(r.every)
}

func (r *renewer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.timer.Stop() && r.slot != nil {
		r.slot.owner.Store(nil)
		r.slot.pool.Put(r.slot)
	}
	r.slot = nil
}
