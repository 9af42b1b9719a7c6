package domain

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syntheticConditions makes n conditions of k examples each out of
// Banking77's phrasings: each condition takes an intent and recombines
// pairs of its training phrasings (the first half of one, the second half
// of another) and ends some with words from another intent, so that
// conditions share vocabulary with each other and with real messages the
// way a large policy's do.
func syntheticConditions(tb testing.TB, n, k int) []MatcherCondition {
	byIntent := map[string][]string{}
	var intents []string
	for _, r := range readBanking77(tb, "train.csv") {
		if byIntent[r.label] == nil {
			intents = append(intents, r.label)
		}
		byIntent[r.label] = append(byIntent[r.label], r.text)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	half := func(text string, first bool) []string {
		w := strings.Fields(text)
		if first {
			return w[:len(w)/2]
		}
		return w[len(w)/2:]
	}
	conds := make([]MatcherCondition, n)
	for c := range conds {
		phrasings := byIntent[intents[c%len(intents)]]
		for range k {
			words := append(half(phrasings[rng.IntN(len(phrasings))], true), half(phrasings[rng.IntN(len(phrasings))], false)...)
			if rng.IntN(2) == 0 {
				other := byIntent[intents[rng.IntN(len(intents))]]
				tail := strings.Fields(other[rng.IntN(len(other))])
				words = append(words, tail[len(tail)-min(3, len(tail)):]...)
			}
			conds[c].Examples = append(conds[c].Examples, strings.Join(words, " "))
		}
	}
	return conds
}

func benchmarkScore(b *testing.B, conds []MatcherCondition) {
	m, err := CompileMatcher(conds, MatcherOptions{})
	if err != nil {
		b.Fatal(err)
	}
	test := readBanking77(b, "test.csv")
	b.ResetTimer()
	cpu := cpuNow()
	i := 0
	for b.Loop() {
		m.Score(MatchInput{Text: test[i%len(test)].text}, nil)
		i++
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
}

// BenchmarkMatcherScore150 scores Banking77 test messages against 150
// conditions of 10 examples each.
func BenchmarkMatcherScore150(b *testing.B) { benchmarkScore(b, syntheticConditions(b, 150, 10)) }

// BenchmarkMatcherScore10000 scores them against 10,000 conditions of 5
// examples each.
func BenchmarkMatcherScore10000(b *testing.B) { benchmarkScore(b, syntheticConditions(b, 10000, 5)) }

// BenchmarkMatcherScoreBanking77 scores them against all of Banking77's
// training data (77 conditions, about 130 examples each).
func BenchmarkMatcherScoreBanking77(b *testing.B) {
	conds, _ := banking77Conditions(readBanking77(b, "train.csv"), 1000)
	benchmarkScore(b, conds)
}

func benchmarkCompile(b *testing.B, conds []MatcherCondition) {
	var m *Matcher
	cpu := cpuNow()
	for b.Loop() {
		var err error
		if m, err = CompileMatcher(conds, MatcherOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/1e9, "cpu-s/op")
	b.ReportMetric(float64(retainedBytes(func() any { m, _ := CompileMatcher(conds, MatcherOptions{}); return m }))/(1<<20), "MB-kept")
	runtime.KeepAlive(m)
}

// BenchmarkCompileMatcherBanking77 compiles all of Banking77's training
// data: 77 conditions, about 130 examples each.
func BenchmarkCompileMatcherBanking77(b *testing.B) {
	conds, _ := banking77Conditions(readBanking77(b, "train.csv"), 1000)
	benchmarkCompile(b, conds)
}

// BenchmarkCompileMatcher10000 compiles 10,000 conditions of 5 examples.
func BenchmarkCompileMatcher10000(b *testing.B) {
	benchmarkCompile(b, syntheticConditions(b, 10000, 5))
}

// BenchmarkCompileMatcher2000 compiles 2,000 conditions of 5 examples:
// small enough to run under callgrind, large enough for the competitors
// and the postings cap to take part.
func BenchmarkCompileMatcher2000(b *testing.B) {
	benchmarkCompile(b, syntheticConditions(b, 2000, 5))
}

// retainedBytes is how much heap what build returns keeps alive.
func retainedBytes(build func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
