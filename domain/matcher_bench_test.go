package domain

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkCompileMatcherBanking77 compiles all of Banking77's training
// data: 77 conditions, about 130 examples each.
func BenchmarkCompileMatcherBanking77(b *testing.B) {
	conds, _ := banking77Conditions(readBanking77(b, "train.csv"), 1000)
	cpu := cpuNow()
	for b.Loop() {
		if _, err := CompileMatcher(conds, MatcherOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/1e9, "cpu-s/op")
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
