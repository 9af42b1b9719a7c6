package memory

import (
	"errors"
	"math"
	"sync"
	"time"
)

// Retention bounds what a Store keeps. Zero values keep everything.
type Retention struct {
	// SessionTTL (FOCAL_MEMORY_SESSION_TTL) evicts a session, with its turns, once it has been
	// neither used by a turn nor changed for this long, closed or not. A
	// session whose lease is held (unexpired) or awaited is never evicted. Its channel
	// identity then opens a new session, as after an idle close.
	SessionTTL time.Duration `env:"MEMORY_SESSION_TTL" envDefault:"24h" yaml:"session_ttl"`
	// MaxTurns (FOCAL_MEMORY_MAX_TURNS) keeps at most this many turns per session, dropping the
	// oldest at commit; the session's turn count and numbering go on.
	MaxTurns int `env:"MEMORY_MAX_TURNS" envDefault:"1000" yaml:"max_turns"`
	// SweepInterval (FOCAL_MEMORY_SWEEP_INTERVAL) is how often the background sweeper runs.
	SweepInterval time.Duration `env:"MEMORY_SWEEP_INTERVAL" envDefault:"1m" yaml:"sweep_interval"`
}

// Validate checks the settings.
func (r Retention) Validate() error {
	if r.SessionTTL < 0 || r.MaxTurns < 0 || r.SweepInterval < 0 {
		return errors.New("FOCAL_MEMORY_SESSION_TTL, FOCAL_MEMORY_MAX_TURNS and FOCAL_MEMORY_SWEEP_INTERVAL must not be negative")
	}
	if r.SweepInterval == 0 && r.SessionTTL > 0 {
		return errors.New("FOCAL_MEMORY_SESSION_TTL needs FOCAL_MEMORY_SWEEP_INTERVAL above 0")
	}
	return nil
}

// SweepStats counts what one Sweep dropped.
type SweepStats struct {
	Sessions, Turns, IdempotencyKeys int
}

// sweepBatch bounds how many entries a sweep checks while holding the
// lock, so turns never wait long behind a sweep of a big store.
const sweepBatch = 256

// packPerSweepLock bounds the sessions a sweep packs while holding the
// lock: packing one encodes its state (a few microseconds), so fewer than
// the entries it checks.
const packPerSweepLock = 32

// Sweep drops, as of now, the sessions retention lets go (with their
// turns) and every expired idempotency record, and packs the sessions
// idle for packAfter (see pack), and compacts the slabs of cold sessions
// (see coldStore.compact). Reads already treat expired
// records as absent; Sweep frees their memory.
func (s *Store) Sweep(now time.Time) SweepStats {
	var st SweepStats
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	// Go allows deleting from a map while ranging over it, and every step
	// of the range runs with the lock held, also across the pauses.
	if ttl := s.retention.SessionTTL; ttl > 0 {
		for id, e := range s.sessions {
			if n++; n%sweepBatch == 0 {
				s.mu.Unlock()
				s.mu.Lock()
			}
			if s.leased(id, now) || !expired(e, now, ttl) {
				continue
			}
			st.Sessions++
			st.Turns += len(e.turns)
			s.drop(e)
			delete(s.leases, id)
		}
		s.sweepCold(now, ttl, &st)
	}
	for {
		more := s.pack(now.UnixNano(), packPerSweepLock, math.MaxInt)
		s.cold.compactSome()
		if !more {
			break
		}
		s.mu.Unlock()
		s.mu.Lock()
	}
	s.shrinkHot()
	for s.cold.compact(1) {
		s.mu.Unlock()
		s.mu.Lock()
	}
	for k, r := range s.idem {
		if n++; n%sweepBatch == 0 {
			s.mu.Unlock()
			s.mu.Lock()
		}
		if !now.Before(r.expiresAt) {
			delete(s.idem, k)
			st.IdempotencyKeys++
		}
	}
	return st
}

// sweepCold drops the cold sessions that nothing has used or changed
// within ttl before now: packing moved touched up to their last activity
// and update, and nothing holds or awaits the lease of a cold session (a
// lease thaws it). The caller holds s.mu.
func (s *Store) sweepCold(now time.Time, ttl time.Duration, st *SweepStats) {
	for h := range s.cold.slots {
		if h%sweepBatch == sweepBatch-1 {
			s.mu.Unlock()
			s.mu.Lock()
		}
		if h >= len(s.cold.slots) || s.cold.slots[h] == 0 {
			continue
		}
		r := s.cold.record(uint32(h))
		if now.Sub(time.Unix(0, r.touched())) <= ttl {
			continue
		}
		st.Sessions++
		st.Turns += r.turnCount()
		s.cold.drop(uint32(h))
	}
}

// leased reports whether a turn holds or awaits the session's lease. A
// lease past its expiry that nobody awaits holds nothing: its holder
// stopped renewing it, and its commit would be refused. The caller holds
// s.mu.
func (s *Store) leased(sessionID string, now time.Time) bool {
	l, ok := s.leases[sessionID]
	return ok && (len(l.waiters) > 0 || l.holder != 0 && !now.After(l.expires))
}

// expired reports whether nothing has used or changed the session within
// ttl before now.
func expired(e *sessionEntry, now time.Time, ttl time.Duration) bool {
	last := time.Unix(0, e.touched)
	if e.snap != nil { // else packing moved touched up to them
		for _, t := range []time.Time{e.snap.LastActivityAt, e.snap.UpdatedAt} {
			if t.After(last) {
				last = t
			}
		}
	}
	return now.Sub(last) > ttl
}

// Sweeper runs sweeps in the background until stopped.
type Sweeper struct {
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// StartSweeper calls each sweep with the current time every interval on
// one goroutine, until Stop.
func StartSweeper(interval time.Duration, now func() time.Time, sweeps ...func(time.Time)) *Sweeper {
	w := &Sweeper{stop: make(chan struct{})}
	w.done.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				for _, sweep := range sweeps {
					sweep(now())
				}
			}
		}
	})
	return w
}

// Stop ends the sweeper and waits for a sweep in progress to finish.
func (w *Sweeper) Stop() {
	w.once.Do(func() { close(w.stop) })
	w.done.Wait()
}
