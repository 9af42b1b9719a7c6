package bootstrap

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestHeadroomPercentPutsTheGoalTheHeadroomOverTheKeptHeap(t *testing.T) {
	const mib = 1 << 20
	// 64 MiB kept (60 heap, 3 stacks, 1 globals) and 128 MiB of headroom:
	// the goal is 64 + 64·200 % = 192 MiB.
	assert.Equal(t, 200, headroomPercent(128*mib, 60*mib, 3*mib, 1*mib, 100))
	// Rounded up: the goal is never short of the headroom.
	assert.Equal(t, 134, headroomPercent(128*mib, 96*mib, 0, 0, 100))
	// Past the headroom's size the floor applies: a 1 GiB heap grows by
	// 100 % of itself, not by 128 MiB.
	assert.Equal(t, 100, headroomPercent(128*mib, 1024*mib, 0, 0, 100))
	assert.Equal(t, 25, headroomPercent(128*mib, 1024*mib, 0, 0, 25))
	// A heap of nothing yet, or of almost nothing, counts as Go's least
	// heap, 4 MiB: the runtime scales that least goal with the percent,
	// so 3200 % puts it at 128 MiB, where more would put it past.
	assert.Equal(t, 3200, headroomPercent(128*mib, 0, 0, 0, 100))
	assert.Equal(t, 3200, headroomPercent(128*mib, 1, 0, 0, 100))
}

// keep holds what the test's heap keeps live across collections.
var keep [][]byte

// After a collection the tuner sets the percent that puts the runtime's
// own goal at what the collection kept plus the headroom: the goal moves
// one for one with the kept heap, where a fixed percent would move it
// several times as far.
func TestTunerKeepsTheGoalAtTheKeptHeapPlusTheHeadroom(t *testing.T) {
	keepRuntime(t)
	const headroom = 64 << 20
	tuned := make(chan int, 1)
	replaceGCTuner(startGCTuner(headroom, 25, tuned))
	<-tuned // the first tune, at start
	// A test binary keeps less than Go's least heap: the goal stays within
	// the headroom over that least heap (the runtime scales its least goal
	// with the percent).
	runtime.GC()
	<-tuned
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(goal)
	assert.LessOrEqual(t, goal[0].Value.Uint64(), uint64(minHeapBase+headroom)*101/100)
	for _, kept := range []int{8 << 20, 24 << 20} {
		keep = append(keep, make([]byte, kept))
		drain(tuned)
		runtime.GC()
		p := <-tuned
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"},
			{Name: "/gc/scan/globals:bytes"}, {Name: "/gc/heap/goal:bytes"}}
		metrics.Read(s)
		live := s[0].Value.Uint64()
		base := live + s[1].Value.Uint64() + s[2].Value.Uint64()
		require.GreaterOrEqual(t, live, uint64(kept), "the kept slice is live")
		assert.Equal(t, p, debug.SetGCPercent(p), "the percent in force is the tuner's")
		assert.Equal(t, headroomPercent(headroom, live, s[1].Value.Uint64(), s[2].Value.Uint64(), 25), p)
		goal := s[3].Value.Uint64()
		assert.InDelta(t, float64(live+headroom), float64(goal), float64(base)/100+1,
			"goal %d MiB, kept %d MiB", goal>>20, live>>20)
	}
	keep = nil
}

// ApplyRuntime starts the tuner with the configured headroom and floor,
// and a later ApplyRuntime stops it: the collector's settings are the
// process's, and GOGC in the environment wins over both.
func TestApplyRuntimeTunesOnlyWithAHeadroom(t *testing.T) {
	keepRuntime(t)
	s, err := ApplyRuntime(RuntimeConfig{GCHeadroom: "256MiB", GCPercent: 100, MemoryLimit: "off"}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, RuntimeSettings{GCPercent: 100, GCHeadroom: 256 << 20, MemoryLimit: s.MemoryLimit}, s)
	runtime.GC()
	runningTuner.Lock()
	assert.NotNil(t, runningTuner.stop)
	runningTuner.Unlock()

	// A cycle's tune may still be on its way when the tuner is replaced:
	// once ApplyRuntime has returned it sets nothing, and GOGC's percent
	// is the one in force, not the tuner's last.
	t.Setenv("GOGC", "150")
	runtime.GC()
	s, err = ApplyRuntime(RuntimeConfig{GCHeadroom: "256MiB", GCPercent: 100, MemoryLimit: "off"}, zap.NewNop())
	require.NoError(t, err)
	assert.Zero(t, s.GCHeadroom)
	assert.Equal(t, 150, s.GCPercent)
	runningTuner.Lock()
	assert.Nil(t, runningTuner.stop)
	runningTuner.Unlock()
	runtime.GC()
	runtime.GC()
	assert.Equal(t, 150, debug.SetGCPercent(150), "no tuner changed GOGC's percent")
}

func TestGOGCPercentReadsAsTheRuntimeReadsIt(t *testing.T) {
	for v, want := range map[string]int{"off": -1, "150": 150, "0": 0, "-5": -5, "lots": 100, "": 100} {
		assert.Equal(t, want, gogcPercent(v), "GOGC=%q", v)
	}
}

// drain drops a tune a collection of the runtime's own may have left.
func drain(tuned chan int) {
	select {
	case <-tuned:
	default:
	}
}
