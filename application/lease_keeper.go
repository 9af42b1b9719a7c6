package application

import (
	"context"
	"sync"
	"time"

	"focal/domain"
)

// keepLease renews the turn's lease every third of its TTL until stopped,
// so only a holder that stopped (it died, or lost the store) loses it. A
// renewal that fails is tried at the next tick; one refused (the lease was
// taken over) ends the renewals: the commit will be refused too. Between
// renewals nothing runs: a timer, not a goroutine, waits, since a turn
// waiting on a slow model holds its lease for as long as it waits.
func (p *PreparedTurn) keepLease(ctx context.Context) (stop func()) {
	k := &leaseKeeper{renew: func() bool { return !domain.IsCode(p.lease.Renew(ctx), domain.CodeSessionBusy) },
		every: p.uc.cfg.LeaseTTL / 3}
	k.mu.Lock()
	k.timer = time.AfterFunc(k.every, k.tick)
	k.mu.Unlock()
	return k.stop
}

// leaseKeeper is keepLease's timer: each tick renews once and sets the
// next, unless stopped meanwhile.
type leaseKeeper struct {
	renew   func() (keep bool)
	every   time.Duration
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	running sync.WaitGroup // a renewal in flight
}

func (k *leaseKeeper) tick() {
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	k.running.Add(1)
	k.mu.Unlock()
	keep := k.renew()
	k.mu.Lock()
	if keep && !k.stopped {
		k.timer.Reset(k.every)
	}
	k.mu.Unlock()
	k.running.Done()
}

// stop ends the renewals and returns once none is in flight.
func (k *leaseKeeper) stop() {
	k.mu.Lock()
	k.stopped = true
	k.timer.Stop()
	k.mu.Unlock()
	k.running.Wait()
}
