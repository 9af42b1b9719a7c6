package main

import (
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
)

// A profile's CPU time is ranked by own and by cumulative time, with the
// garbage collector's and system calls' shares; the HTTP layer and the
// metrics decorators, which wrap whole turns, are left out of the
// cumulative list.
func TestSummariseRanksFunctions(t *testing.T) {
	fn := map[string]*profile.Function{}
	loc := func(names ...string) []*profile.Location {
		var out []*profile.Location
		for _, n := range names { // leaf first
			if fn[n] == nil {
				fn[n] = &profile.Function{Name: n}
			}
			out = append(out, &profile.Location{Line: []profile.Line{{Function: fn[n]}}})
		}
		return out
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Value: []int64{1, 6e9}, Location: loc("focal/domain.Score", "focal/application.Run", "focal/adapters/http.serve")},
			{Value: []int64{1, 2e9}, Location: loc("syscall.Syscall", "focal/application.Run")},
			{Value: []int64{1, 2e9}, Location: loc("runtime.gcBgMarkWorker")},
		},
	}
	s := summarise(p, 2)
	assert.InDelta(t, 10, s.Seconds, 1e-9)
	assert.InDelta(t, 0.2, s.GC, 1e-9)
	assert.InDelta(t, 0.2, s.Syscall, 1e-9)
	assert.Equal(t, []funcShare{
		{Name: "focal/domain.Score", Flat: 0.6, Cum: 0.6},
		{Name: "runtime.gcBgMarkWorker", Flat: 0.2, Cum: 0.2},
	}, s.TopFlat, "two at most, ties by name")
	assert.Equal(t, []funcShare{
		{Name: "focal/application.Run", Flat: 0, Cum: 0.8},
		{Name: "focal/domain.Score", Flat: 0.6, Cum: 0.6},
	}, s.TopCum)
}

// Every sample is counted in one part of the turn, the innermost named
// part on its stack first, so the parts add up to the whole profile; with
// the CPU per turn they read in microseconds.
func TestStagesCountEachSampleOnce(t *testing.T) {
	fn := map[string]*profile.Function{}
	sample := func(cpu int64, names ...string) *profile.Sample {
		s := &profile.Sample{Value: []int64{cpu}}
		for _, n := range names { // leaf first
			if fn[n] == nil {
				fn[n] = &profile.Function{Name: n}
			}
			s.Location = append(s.Location, &profile.Location{Line: []profile.Line{{Function: fn[n]}}})
		}
		return s
	}
	const (
		serve  = "net/http.(*conn).serve"
		run    = "focal/application.(*PreparedTurn).Run"
		engine = "focal/application/alignment.(*Engine).RunTurn"
	)
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			sample(4, "focal/domain.(*Matcher).scoreWith", "focal/application/alignment.match", engine, run, serve),
			sample(2, "runtime.mallocgc", engine, run, serve),
			sample(2, "focal/adapters/memory.keepTurn", "focal/application.(*ProcessMessage).commit", run, serve),
			sample(1, "runtime.gcAssistAlloc", "focal/application/alignment.match", engine, run, serve),
			sample(1, "internal/runtime/syscall/linux.Syscall6", "syscall.Syscall", serve),
			sample(1, "encoding/json.Marshal", serve),
			sample(1, "runtime.mcall"),
		},
	}
	s := summarise(p, 3)
	var sum float64
	for _, share := range s.Stages {
		sum += share
	}
	assert.InDelta(t, 1, sum, 1e-9, "the parts add up to the whole")
	assert.Equal(t, "matching 33% (40 µs), committing the turn to the store 17% (20 µs), the engine besides matching 17% (20 µs), "+
		"garbage collection 8% (10 µs), network system calls 8% (10 µs), HTTP, middleware and JSON 8% (10 µs), "+
		"the rest (runtime, timers, background work) 8% (10 µs)", s.stagesText(120))
	assert.NotContains(t, s.stagesText(0), "µs", "no microseconds without the CPU per turn")
}
