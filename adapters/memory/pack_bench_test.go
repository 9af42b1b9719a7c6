package memory

import (
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"focal/adapters/clock"
)

// idleNewUsers is a store of b.N new users' sessions of one turn, all
// due for packing, collected.
func idleNewUsers(b *testing.B) *Store {
	c := clock.NewFake()
	s := New(c)
	commitRecorded(b, s, b.N, 1)
	c.Advance(packAfter + time.Second)
	runtime.GC()
	return s
}

// BenchmarkPackNewUsers is pack's work, under the store's lock, for each
// of b.N new users' sessions of one recorded turn all gone idle at once,
// as after a burst of new users: pack encodes each session and chills it
// into the slabs, in holds of idleBatch sessions and idleBytes (the
// pauses between them left out), as the idle worker did before it
// encoded with the lock let go (see BenchmarkPackOutsideNewUsers), and
// as commits and sweeps still do. locked-ns/op is the lock held a
// session, hold-max-ns and hold-p99-ns the longest holds, what a turn
// arriving during one waits at worst. Run it with -benchtime Nx; the
// callgrind --toggle-collect target is '*Store).pack', its Ir over N+1 (the
// run of 1 first) the cost of packing one session. (Counts toggled on a
// function that takes the lock now and then took in the next run's setup
// too: callgrind follows a thread, not a goroutine.)
func BenchmarkPackNewUsers(b *testing.B) {
	s := idleNewUsers(b)
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	var holds lockHolds
	b.ResetTimer()
	for more := true; more; {
		holds.hold(s, func() { more = s.pack(s.now(), idleBatch, idleBytes) })
	}
	b.StopTimer()
	holds.report(b)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	b.ReportMetric(float64(after.Minflt-before.Minflt)/float64(b.N), "faults/op")
	b.ReportMetric(float64(s.cold.alive)/float64(b.N), "record-B/op")
	if len(s.sessions) != 0 {
		b.Fatalf("%d sessions left hot", len(s.sessions))
	}
}

// BenchmarkIdleRunNewUsers is a run of the idle worker over b.N new
// users' sessions gone idle at once, as BenchmarkPackNewUsers, with its
// pauses between holds of the lock: the CPU time the process spent (user
// and system, collections and the scheduler's wake-ups included) and the
// pauses, per session. Run it with -benchtime Nx.
func BenchmarkIdleRunNewUsers(b *testing.B) {
	s := idleNewUsers(b)
	w := unstartedWorker(s)
	before := cpuTime()
	b.ResetTimer()
	s.idleRun(w)
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(w.pauses)/float64(b.N), "pauses/op")
	if len(s.sessions) != 0 {
		b.Fatalf("%d sessions left hot", len(s.sessions))
	}
}

// cpuTime is the CPU time the process has used, in ns.
func cpuTime() int64 {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return r.Utime.Nano() + r.Stime.Nano()
}

// BenchmarkPackOutsideNewUsers is BenchmarkPackNewUsers's backlog packed
// as the idle worker packs it (see Store.packOutside): one hold takes a
// batch from the queue, the sessions are encoded with the lock let go,
// and a second hold installs them. It reports the same metrics, the
// holds alone timed (locked-ns/op, hold-max-ns, hold-p99-ns), beside the
// whole work a session (ns/op).
func BenchmarkPackOutsideNewUsers(b *testing.B) {
	s := idleNewUsers(b)
	w := unstartedWorker(s)
	var holds lockHolds
	b.ResetTimer()
	for more := true; more; {
		var enc *encoder
		now := s.now()
		holds.hold(s, func() { w.jobs, more = s.takeDue(w.jobs[:0], now, &enc) })
		for i := range w.jobs {
			w.jobs[i].encode()
		}
		holds.hold(s, func() {
			for i := range w.jobs {
				s.install(&w.jobs[i], now, &enc)
			}
		})
		if enc != nil {
			encoders.Put(enc)
		}
	}
	b.StopTimer()
	holds.report(b)
	if len(s.sessions) != 0 {
		b.Fatalf("%d sessions left hot", len(s.sessions))
	}
}

// lockHolds times holds of a store's lock.
type lockHolds struct{ took []time.Duration }

// hold runs f holding s.mu, timing the hold.
func (h *lockHolds) hold(s *Store, f func()) {
	start := time.Now()
	s.mu.Lock()
	f()
	s.mu.Unlock()
	h.took = append(h.took, time.Since(start))
}

func (h *lockHolds) report(b *testing.B) {
	var locked time.Duration
	for _, d := range h.took {
		locked += d
	}
	slices.Sort(h.took)
	b.ReportMetric(float64(locked.Nanoseconds())/float64(b.N), "locked-ns/op")
	b.ReportMetric(float64(h.took[len(h.took)-1].Nanoseconds()), "hold-max-ns")
	b.ReportMetric(float64(h.took[int(0.99*float64(len(h.took)-1))].Nanoseconds()), "hold-p99-ns")
}
