package memory

import (
	"fmt"
	"runtime"
	"runtime/metrics"
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
// commit-p99-ns), the time goroutines waited for a mutex a turn
// (mutex-wait-ns/op), and the idle worker's pauses between holds of the
// lock a turn (pauses/op, seeding's included), which says it was busy.
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
	waitedBefore := mutexWait()
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
	b.ReportMetric(float64((mutexWait()-waitedBefore).Nanoseconds())/float64(b.N), "mutex-wait-ns/op")
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	c.s.mu.Lock()
	b.ReportMetric(float64(w.pauses)/float64(b.N), "pauses/op")
	c.s.mu.Unlock()
	reportContended(b, slices.Concat(took...))
}

// mutexWait is the time goroutines have spent waiting for a sync.Mutex,
// the store's above all (the fake clock's too), as the runtime counts it.
func mutexWait() time.Duration {
	m := []metrics.Sample{{Name: "/sync/mutex/wait/total:seconds"}}
	metrics.Read(m)
	return time.Duration(m[0].Value.Float64() * float64(time.Second))
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
