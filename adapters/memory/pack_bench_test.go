package memory

import (
	"runtime"
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

// BenchmarkPackNewUsers is the idle worker's work, under the store's lock,
// for each of b.N new users' sessions of one recorded turn all gone idle
// at once, as after a burst of new users: pack encodes each session and
// chills it into the slabs, in holds of idleBatch sessions and idleBytes
// (the pauses between them left out). Run it with -benchtime Nx; the
// callgrind --toggle-collect target is '*Store).pack', its Ir over N+1 (the
// run of 1 first) the cost of packing one session. (Counts toggled on a
// function that takes the lock now and then took in the next run's setup
// too: callgrind follows a thread, not a goroutine.)
func BenchmarkPackNewUsers(b *testing.B) {
	s := idleNewUsers(b)
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	s.mu.Lock()
	for s.pack(s.now(), idleBatch, idleBytes) {
	}
	s.mu.Unlock()
	b.StopTimer()
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
