package bootstrap

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Go's collector starts the next cycle when the heap has grown by GOGC
// percent of what the last one kept (plus stacks and globals). That
// multiplies what the process keeps: at 400, every MiB of sessions the
// memory store holds raises the peak heap, and RSS with it, by 5 MiB. A
// store that fills up to its retention bound then shows as RSS rising
// five times faster than its data, and a heap of a few GiB of sessions
// would reserve several times that.
//
// So focal serve keeps the collector's goal at what the last cycle kept
// plus a fixed headroom, the allocation between cycles that makes
// collecting cheap, whatever the store holds: RSS then moves one for one
// with kept data. Above the size where the headroom is less than
// FOCAL_GC_PERCENT of the kept heap, that percent applies instead, so a
// big store is not collected ever more often. Go has no such setting,
// so after every cycle the percent is set to give it (debug.SetGCPercent
// takes the heap lock; it does not stop the world).

// DefaultGCHeadroom is FOCAL_GC_HEADROOM's default, in bytes: a
// returning user's turn allocates about 30 KB, so at 10,000 turns a
// second this is two collections a second.
const DefaultGCHeadroom = 128 << 20

// minHeapBase is Go's least heap goal at GOGC 100 (defaultHeapMinimum).
// The runtime scales it with the percent: at GOGC p no goal is below
// minHeapBase·p/100. So a heap kept smaller than this is counted as this,
// or the percent a tiny heap needs would push that least goal, and RSS
// with it, far past the headroom (before the first cycle nothing is live
// at all).
const minHeapBase = 4 << 20

// headroomPercent is the GOGC that puts the next goal headroom bytes over
// the live heap, given what the last cycle kept (live heap, stacks and
// globals scanned), and never below floor percent.
func headroomPercent(headroom, live, stacks, globals uint64, floor int) int {
	base := max(live+stacks+globals, minHeapBase)
	p := math.Ceil(float64(headroom) * 100 / float64(base))
	return int(max(p, float64(floor)))
}

// gcTuner sets the collector's percent after every cycle (see above).
type gcTuner struct {
	headroom uint64
	floor    int
	samples  []metrics.Sample
	// mu is held while a cycle's tune runs, so that once stop has
	// returned no tune of this tuner sets the percent again.
	mu      sync.Mutex
	stopped bool
	// tuned, when set, receives each percent set (tests wait on it).
	tuned chan int
}

// startGCTuner sets the percent now and after every collection until
// stop; it needs no goroutine of its own: a cleanup on an object nothing
// holds runs after each cycle, on the runtime's cleanup goroutine, and
// arms the next.
func startGCTuner(headroom uint64, floor int, tuned chan int) (stop func()) {
	t := &gcTuner{headroom: headroom, floor: floor, tuned: tuned, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	t.tune()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
	}
}

// sentinel is what each cycle finds unreachable; a pointer makes it an
// object of its own (the tiny allocator batches small pointer-free ones,
// whose cleanup could wait for their neighbours).
type sentinel struct{ _ *gcTuner }

func (t *gcTuner) arm() {
	runtime.AddCleanup(&sentinel{}, func(t *gcTuner) {
		if t.tuneUnlessStopped() {
			t.arm()
		}
	}, t)
}

// tuneUnlessStopped tunes unless stop was called, and reports whether it
// did.
func (t *gcTuner) tuneUnlessStopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	t.tune()
	return true
}

func (t *gcTuner) tune() {
	metrics.Read(t.samples)
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	p := headroomPercent(t.headroom, v[0], v[1], v[2], t.floor)
	debug.SetGCPercent(p)
	if t.tuned != nil {
		select {
		case t.tuned <- p:
		default:
		}
	}
}

// runningTuner is the process's tuner: the collector's settings are the
// process's, so ApplyRuntime replaces the one before.
var runningTuner struct {
	sync.Mutex
	stop func()
}

// replaceGCTuner stops the running tuner, if any, and keeps stop for the
// next replacement (nil: none runs).
func replaceGCTuner(stop func()) {
	runningTuner.Lock()
	defer runningTuner.Unlock()
	if runningTuner.stop != nil {
		runningTuner.stop()
	}
	runningTuner.stop = stop
}
