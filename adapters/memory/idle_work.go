package memory

import (
	"math"
	"sync"
	"time"

	"focal/ports"
)

// idleWakeDue is how many sessions must be due for packing before a
// commit wakes the idle worker: the worker then packs them in a few holds
// of the lock, not one wake-up per commit, which would cost the turn path
// more than the packing it moved off it. Fewer wait for its timer.
const idleWakeDue = 32

// idleBatch and idleBytes bound the sessions the idle worker packs, and
// the bytes it copies into the slabs, in one hold of the store's lock: a
// turn waiting for the lock waits behind at most that much. (The sessions
// whose packing encodes them are encoded between two holds, with the lock
// let go, and copied into the slabs in the second, idleBatch at most; see
// Store.packOutside.)
const (
	idleBatch = 8
	idleBytes = 64 << 10
)

// idlePause is how long the idle worker lets the lock go between two
// holds: time for a turn woken by its release to take it. A sleep this
// short lasts about 1.1 ms on an idle 2-core machine here (the runtime's
// timer granularity), less when the cores are busy: the worker packs some
// 7,000 sessions a second at the least (a backlog of 100,000 in about
// 14 s); raise idleBatch if sessions go idle faster than that.
const idlePause = 200 * time.Microsecond

// idleTick is the least the idle worker's timer waits: sessions a few
// commits leave due are packed together, and a store with no commits
// still packs what went idle.
const idleTick = time.Second

// IdleWorker does a store's idle work on a goroutine of its own, off the
// turn's path: it packs the sessions unused for packAfter and chills them
// (see Store.pack), and compacts the slabs of cold sessions (see
// coldStore.compactPart), which commits did before it ran. Commits wake it
// once enough sessions are due, its timer once the oldest queued one is.
type IdleWorker struct {
	store *Store
	// wake holds a wake-up not yet taken: a commit's or the timer's.
	wake chan struct{}
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
	// timer wakes the worker when the oldest queued session is due; armed
	// says it is set. Both under the store's lock.
	timer ports.Timer
	armed bool
	// afterRun, when set (by tests), is called after each run of the
	// idle work.
	afterRun func()
	// pauses counts the pauses between holds of the lock (see yieldLock),
	// under the store's lock.
	pauses int
	// jobs are the sessions a run packs with the lock let go (see
	// Store.packOutside), kept for their buffers; the worker's own.
	jobs []packJob
}

// StartIdleWork starts the store's idle worker, which runs until Stop.
// Until then, and once it stopped, each commit does a bounded share of
// the idle work itself. One worker runs at a time: a second call returns
// the one running.
func (s *Store) StartIdleWork() *IdleWorker { return s.startIdleWork(nil) }

func (s *Store) startIdleWork(afterRun func()) *IdleWorker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idle != nil {
		return s.idle
	}
	w := &IdleWorker{store: s, wake: make(chan struct{}, 1), stop: make(chan struct{}), afterRun: afterRun}
	s.idle = w
	w.done.Go(w.run)
	return w
}

// Stop ends the idle worker and waits for a run in progress to finish;
// the store's commits do the idle work again. A second call does nothing.
func (w *IdleWorker) Stop() {
	w.once.Do(func() {
		s := w.store
		s.mu.Lock()
		s.idle = nil
		s.mu.Unlock()
		close(w.stop)
		w.done.Wait()
		s.mu.Lock()
		if w.timer != nil {
			w.timer.Stop()
		}
		s.mu.Unlock()
	})
}

// poke wakes the worker without ever waiting: a wake-up already pending
// covers this one.
func (w *IdleWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stopping reports whether Stop was called.
func (w *IdleWorker) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

func (w *IdleWorker) run() {
	for {
		select {
		case <-w.stop:
			return
		case <-w.wake:
		}
		w.store.idleRun(w)
		if w.afterRun != nil {
			w.afterRun()
		}
	}
}

// idleAfterCommit has the idle work done after a commit at now: by the
// worker when one runs, woken when enough sessions are due or when its
// timer is not set; else by the commit itself, a bounded share. The
// caller holds s.mu.
func (s *Store) idleAfterCommit(now int64) {
	w := s.idle
	if w == nil {
		s.pack(now, packPerCommit, math.MaxInt)
		s.cold.compactSome()
		return
	}
	if !w.armed || s.used.due(idleWakeDue, now-int64(packAfter)) || s.cold.compactable() {
		w.poke()
	}
}

// idleRun packs every session due and compacts the slabs while they
// need it, in holds of the lock bounded by idleBatch and idleBytes,
// letting a turn waiting for the lock in between, and encoding the
// sessions it packs with the lock let go (see packOutside); then it sets
// w's timer for the oldest queued session.
func (s *Store) idleRun(w *IdleWorker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.armed = false
	for {
		packing, compacting := s.packOutside(w, s.now()), false
		if s.cold.compacting() {
			w.yieldLock()
			compacting = s.cold.compactPart(idleBytes)
		}
		if !packing && !compacting {
			break
		}
		w.yieldLock()
		if w.stopping() {
			return // a backlog takes seconds: Stop waits for none of it
		}
	}
	at, ok := s.used.oldest()
	if !ok {
		return // the next commit wakes the worker (see idleAfterCommit)
	}
	d := max(time.Duration(at+int64(packAfter)-s.now()), idleTick)
	if w.timer == nil {
		w.timer = s.clock.AfterFunc(d, w.poke)
	} else {
		w.timer.Reset(d)
	}
	w.armed = true
}

// yieldLock lets a goroutine waiting for s.mu take it before the caller
// takes it again. A mutex let go and taken straight back mostly stays
// with its holder, even across runtime.Gosched (the other core resumes
// the worker first): the waiter then waits until the mutex turns to
// handing over, after 1 ms, which put a one-client run's p99 commit at
// 4 ms. The pause is real time, whatever the store's clock, and costs
// some 55 us of CPU here (the timer and the scheduler's wake-ups): a run
// pauses only between two holds that do work. The caller holds s.mu.
func (w *IdleWorker) yieldLock() {
	s := w.store
	w.pauses++
	s.mu.Unlock()
	time.Sleep(idlePause)
	s.mu.Lock()
}

// due reports whether the n-th oldest queued entry was used at or before
// before: n sessions at least are due for pack (the queue is in the order
// of use, but for sessions thawed by a read).
func (q *idleQueue) due(n int, before int64) bool {
	i := q.head + n - 1
	return i < len(q.items) && q.items[i].at <= before
}

// oldest returns when the oldest queued entry was used.
func (q *idleQueue) oldest() (int64, bool) {
	if q.head == len(q.items) {
		return 0, false
	}
	return q.items[q.head].at, true
}
