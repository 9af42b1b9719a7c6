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
