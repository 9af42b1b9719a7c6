package memory

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLockCommitContended is BenchmarkLockCommitCycle's turns taken
// by several goroutines at once (goroutines=2: one a core here), with the
// idle worker packing meanwhile, as at 32 connections: what a turn waits
// for the store's lock behind other turns and the worker shows in the
// tail of the store's time a turn (LockSession with the session and
// history read, then CommitTurn and Release), not in its median.
//
// The returning users (contendedUsers of them, seeded with
// cycleSeedTurns turns, each used by one goroutine only, so that no turn
// waits for another's lease) start cold, so their first turns thaw their
// sessions. The clock moves on contendedStep a turn, some 200 times
// faster than the turns take: sessions go due faster than the idle worker
// packs them in real time (a hold of idleBatch, then a pause), so it packs
// throughout the run, and a turn arriving during one of its holds waits
// behind it. Run it with -benchtime Nx (some 20,000).
//
// It reports, over every turn, the store's time a turn at the median
// (turn-p50-ns), the 99th percentile (turn-p99-ns) and the most
// (turn-max-ns), the 99th percentiles of its two parts (lock-p99-ns,
// commit-p99-ns), and the idle worker's pauses between holds of the lock
// a turn (pauses/op, seeding's included), which says it was busy.
func BenchmarkLockCommitContended(b *testing.B) {
	for _, goroutines := range []int{2, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) { benchLockCommitContended(b, goroutines) })
	}
}

// contendedUsers and contendedStep: a returning user comes back every
// contendedUsers/0.7 turns, some 2,140, which at contendedStep a turn is
// 6.4 s of the store's clock, past packAfter: due for packing again.
const (
	contendedUsers = 1500
	contendedStep  = 3 * time.Millisecond
)

func benchLockCommitContended(b *testing.B, goroutines int) {
	c := newCycle(b)
	c.step = contendedStep
	w := c.s.StartIdleWork()
	defer w.Stop()
	for u := range contendedUsers {
		for i := range cycleSeedTurns {
			c.turn(fmt.Sprint("ret-", u), i)
		}
	}
	// Every seeded session packed and cold, as after the users' pause.
	c.clock.Advance(packAfter + time.Second)
	c.s.Sweep(c.clock.Now())
	runtime.GC()

	var next atomic.Int64 // the turns handed out
	var failed atomic.Value
	took := make([][]contendedTime, goroutines)
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range goroutines {
		wg.Go(func() {
			took[g] = make([]contendedTime, 0, b.N/goroutines+1)
			returning := 0
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				user := ""
				if i%10 < 7 {
					// Users g, g+goroutines, …: this goroutine's alone.
					user = fmt.Sprint("ret-", g+goroutines*(returning%(contendedUsers/goroutines)))
					returning++
				} else {
					user = fmt.Sprint("new-", i)
				}
				lock, commit, err := c.try(user, int(i))
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				took[g] = append(took[g], contendedTime{lock, commit})
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	c.s.mu.Lock()
	b.ReportMetric(float64(w.pauses)/float64(b.N), "pauses/op")
	c.s.mu.Unlock()
	reportContended(b, slices.Concat(took...))
}

// contendedTime is one turn's store time, in its two parts.
type contendedTime struct{ lock, commit time.Duration }

func reportContended(b *testing.B, all []contendedTime) {
	if len(all) == 0 {
		return
	}
	pick := []func(contendedTime) time.Duration{
		func(t contendedTime) time.Duration { return t.lock + t.commit },
		func(t contendedTime) time.Duration { return t.lock },
		func(t contendedTime) time.Duration { return t.commit },
	}
	sorted := make([][]time.Duration, len(pick))
	for k, f := range pick {
		for _, t := range all {
			sorted[k] = append(sorted[k], f(t))
		}
		slices.Sort(sorted[k])
	}
	at := func(d []time.Duration, q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) }
	b.ReportMetric(at(sorted[0], 0.5), "turn-p50-ns")
	b.ReportMetric(at(sorted[0], 0.99), "turn-p99-ns")
	b.ReportMetric(at(sorted[0], 1), "turn-max-ns")
	b.ReportMetric(at(sorted[1], 0.99), "lock-p99-ns")
	b.ReportMetric(at(sorted[2], 0.99), "commit-p99-ns")
}

// BenchmarkLockWaitBehindIdleRun is what a turn waits for the store's
// lock while the idle worker packs a backlog of b.N new users' sessions
// gone idle at once (see BenchmarkIdleRunNewUsers): a probe on the other
// core takes the lock and lets it go every lockProbeEvery, as turns
// would, and times how long it waited. A probe that arrives during one
// of the worker's holds waits for the rest of it; the tail of the waits
// is the worker's holds, which BenchmarkLockCommitContended's turns'
// own costs and the host's other work hide. Run it with -benchtime Nx
// (some 4,000). It reports the waits' median (wait-p50-ns), 99th and
// 99.9th percentiles (wait-p99-ns, wait-p999-ns) and the most
// (wait-max-ns), their sum per session packed (waited-ns/op), and the
// probes per session packed (probes/op).
func BenchmarkLockWaitBehindIdleRun(b *testing.B) {
	s := idleNewUsers(b)
	w := unstartedWorker(s)
	var waits []time.Duration
	stop := make(chan struct{})
	var probe sync.WaitGroup
	probe.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			s.mu.Lock()
			waited := time.Since(start)
			s.mu.Unlock()
			waits = append(waits, waited)
			for time.Since(start) < lockProbeEvery {
				// A turn's work outside the lock: spun, since a sleep
				// this short lasts a millisecond.
			}
		}
	})
	b.ResetTimer()
	s.idleRun(w)
	b.StopTimer()
	close(stop)
	probe.Wait()
	if len(s.sessions) != 0 {
		b.Fatalf("%d sessions left hot", len(s.sessions))
	}
	var waited time.Duration
	for _, d := range waits {
		waited += d
	}
	b.ReportMetric(float64(waited.Nanoseconds())/float64(b.N), "waited-ns/op")
	slices.Sort(waits)
	at := func(q float64) float64 { return float64(waits[int(q*float64(len(waits)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.5), "wait-p50-ns")
	b.ReportMetric(at(0.99), "wait-p99-ns")
	b.ReportMetric(at(0.999), "wait-p999-ns")
	b.ReportMetric(at(1), "wait-max-ns")
	b.ReportMetric(float64(len(waits))/float64(b.N), "probes/op")
}

// lockProbeEvery is how often BenchmarkLockWaitBehindIdleRun's probe
// takes the lock: some 10,000 turns a second's pace on each core.
const lockProbeEvery = 20 * time.Microsecond
