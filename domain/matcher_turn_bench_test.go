package domain

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkTurnMatching is a returning customer's turn of matching at a
// scenario step, the make bench mix's: the message scored against 100
// rules (Banking77 intents, up to 40 examples each, recombined beyond 77)
// and the scenario entry, then at the step (its transition, the exit and
// staying), then the best three rules explained.
func BenchmarkTurnMatching(b *testing.B) {
	cp, test, asked := turnPolicy(b)
	cp.ScoreMessage("hello", nil).Step("flow", "s0", asked) // compile the step outside the timer
	timeTurns(b, test, func(text string) { turnMatching(cp, text, asked) })
}

// BenchmarkTurnMatchingUnexplained is BenchmarkTurnMatching's turn as
// the service runs it without an embedder: the message scored
// unexplained, then at the step, whose own explanation is left for later
// too (its one transition leads to a step of its own), and nothing
// explained. What is left of the step's scoring is mostly its matcher's
// vector of the message.
func BenchmarkTurnMatchingUnexplained(b *testing.B) {
	cp, test, asked := turnPolicy(b)
	if !cp.StepExplainsLater("flow", "s0") {
		b.Fatal("the step explains its scores now")
	}
	cp.ScoreMessageUnexplained("hello").Step("flow", "s0", asked) // compile the step outside the timer
	timeTurns(b, test, func(text string) { turnMatchingUnexplained(cp, text, asked) })
}

// timeTurns times turn over the test messages, one after another, and
// reports the CPU time a turn took beside the wall clock's.
func timeTurns(b *testing.B, test []labelledText, turn func(text string)) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuNow()
	i := 0
	for b.Loop() {
		turn(test[(i*37)%len(test)].text)
		i++
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
}

// turnPolicy is BenchmarkTurnMatching's policy, the Banking77 test
// messages and what the step asked.
func turnPolicy(b *testing.B) (*CompiledPolicy, []labelledText, string) {
	train, test := readBanking77(b, "train.csv"), readBanking77(b, "test.csv")
	conds, _ := banking77Conditions(train, 40)
	p := rulesPolicy(conds, 100)
	p.Scenarios = []Scenario{{ID: "flow", EntryCondition: "my new card has not arrived", EntryStepID: "s0", Enabled: true,
		ExitCondition: "never mind; forget it", EntryExamples: []string{"I ordered a card a week ago and it still has not come"},
		Steps: []Step{
			{ID: "s0", Instructions: "Ask when the card was ordered.", Transitions: []Transition{{To: "s1",
				Condition: "the courier left it with a neighbour", Examples: []string{"my neighbour had it all along", "it was at the concierge"}}}},
			{ID: "s1", Terminal: true},
		}}}
	cp, err := CompilePolicy(p)
	if err != nil {
		b.Fatal(err)
	}
	return cp, test, "Ask when the card was ordered.\nThanks for reaching out about your order. I have checked the details."
}

// turnMatching is BenchmarkTurnMatching's timed work only, which
// callgrind's --toggle-collect names to leave the policy's compile out.
//
//go:noinline
func turnMatching(cp *CompiledPolicy, text, asked string) {
	s := cp.ScoreMessage(text, nil)
	s.Step("flow", "s0", asked)
	for _, r := range s.Rules()[:min(3, s.NumRules())] {
		s.ExplainRule(r.Index)
	}
}

// turnMatchingUnexplained is BenchmarkTurnMatchingUnexplained's timed
// work only, for callgrind's --toggle-collect.
//
//go:noinline
func turnMatchingUnexplained(cp *CompiledPolicy, text, asked string) {
	s := cp.ScoreMessageUnexplained(text)
	s.Step("flow", "s0", asked)
	s.Release()
}

// BenchmarkScoreMessageUnexplained is a turn's scoring of its message
// against the policy's rules and entries, as a turn whose explanation is
// completed when its record is read does it (ScoreMessageUnexplained):
// Banking77 test messages against 100 rules, as BenchmarkTurnMatching's
// policy has them, and against 10,000 rules of five recombined phrasings
// each.
func BenchmarkScoreMessageUnexplained(b *testing.B) {
	scoringPolicies(b, benchmarkScoreMessageUnexplained)
}

// scoringPolicies runs bench as sub-benchmarks "100" and "10000" on the
// scoring benchmarks' policies: 100 rules of Banking77 phrasings, as
// BenchmarkTurnMatching's policy has them, and 10,000 rules of five
// recombined phrasings each.
func scoringPolicies(b *testing.B, bench func(*testing.B, *Policy)) {
	b.Run("100", func(b *testing.B) {
		conds, _ := banking77Conditions(readBanking77(b, "train.csv"), 40)
		bench(b, rulesPolicy(conds, 100))
	})
	b.Run("10000", func(b *testing.B) {
		bench(b, rulesPolicy(syntheticConditions(b, 10000, 5), 10000))
	})
}

// rulesPolicy is a policy of n rules made of conds' examples, recombined
// beyond the number of conditions: a rule past len(conds) takes the
// second half of its condition's examples.
func rulesPolicy(conds []MatcherCondition, n int) *Policy {
	p := &Policy{Agent: Agent{ID: "bench", Name: "bench", Enabled: true}}
	for i := range n {
		ex := conds[i%len(conds)].Examples
		if i >= len(conds) {
			ex = ex[len(ex)/2:]
		}
		p.Rules = append(p.Rules, Rule{ID: fmt.Sprint("r", i), Condition: ex[0], Examples: ex[1:], Action: "Help.",
			Scope: ScopeGlobal, Enabled: true})
	}
	return p
}

func benchmarkScoreMessageUnexplained(b *testing.B, p *Policy) {
	cp, err := CompilePolicy(p)
	if err != nil {
		b.Fatal(err)
	}
	test := readBanking77(b, "test.csv")
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuNow()
	i := 0
	for b.Loop() {
		scoreUnexplained(cp, test[(i*37)%len(test)].text)
		i++
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
}

// scoreUnexplained is the timed loop's work only: callgrind's
// --toggle-collect names it to count the scoring without the policy's
// compile.
//
//go:noinline
func scoreUnexplained(cp *CompiledPolicy, text string) { cp.ScoreMessageUnexplained(text).Release() }

// BenchmarkStepScoring is BenchmarkTurnMatchingUnexplained's step alone:
// messages scored unexplained beforehand, then each scored at the step.
func BenchmarkStepScoring(b *testing.B) {
	scores, asked := stepScores(b)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuNow()
	i := 0
	for b.Loop() {
		stepScoring(scores[i%len(scores)], asked)
		i++
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
}

// BenchmarkStepScoringCold is BenchmarkStepScoring with the caches
// holding none of the step's matcher, as BenchmarkScoreMessageCold reads
// a message: under load the service's profile put a step at about 4 µs
// of CPU, where warm it takes 1. Cold it took 5 to 7 µs here (score-p50-ns,
// on a host busy with other work), about half in weighRuns' probes of the
// step's feature table (16,384 slots, 256 KiB at a hundred rules) and
// half in tinyMargins' reads of their rows (7,842 of 32 bytes): one cache
// line each for nearly every one of a message's hundred and forty
// features. Neither holding the rows in the table's slots (one line a
// feature) nor reading the step's features by the policy's ids (see the
// commit that added this) was faster at p < 0.05.
func BenchmarkStepScoringCold(b *testing.B) {
	scores, asked := stepScores(b)
	timeCold(b, func(i int) { stepScoring(scores[i%len(scores)], asked) })
}

// stepScores is what the step benchmarks score at the step: 64 messages
// of turnPolicy's scored unexplained, and the step's question; the step
// is compiled already, outside their timers.
func stepScores(b *testing.B) ([]*MessageScores, string) {
	cp, test, asked := turnPolicy(b)
	scores := make([]*MessageScores, 64)
	for i := range scores {
		scores[i] = cp.ScoreMessageUnexplained(test[(i*37)%len(test)].text)
	}
	scores[0].Step("flow", "s0", asked)
	return scores, asked
}

// stepScoring is BenchmarkStepScoring's timed work only, for callgrind's
// --toggle-collect.
//
//go:noinline
func stepScoring(s *MessageScores, asked string) { s.Step("flow", "s0", asked) }

// BenchmarkScoreMessageCold is BenchmarkScoreMessageUnexplained's
// scoring of a message with the caches holding none of the matcher, as a
// turn finds them under load: the service's HTTP, store and engine work
// around each turn evicts the matcher's tables (at a hundred rules some
// 3 MB, the vocabulary's 1 MiB of it) between one turn's scoring and the
// next. Before each message it reads a line of every 64 bytes of a
// buffer (coldCacheBytes) larger than the last-level cache's share of a
// core here, then times the scoring alone: score-ns/op is the scoring's
// own time, cold, on average, and score-p50-ns its median, which a host
// busy with other work moves less; ns/op counts the eviction too and
// means little.
func BenchmarkScoreMessageCold(b *testing.B) {
	scoringPolicies(b, benchmarkScoreMessageCold)
}

// coldCacheBytes is the buffer BenchmarkScoreMessageCold reads to evict
// the caches: a pointer chase here costs 33 ns a load over 4 MB, 143 ns
// over 8 MB and 190 ns over 16 MB (memory's), so 16 MB is past the
// last-level cache a core gets.
const coldCacheBytes = 16 << 20

// coldSamples is how many of the last scorings' times
// BenchmarkScoreMessageCold keeps for their median.
const coldSamples = 1 << 12

func benchmarkScoreMessageCold(b *testing.B, p *Policy) {
	cp, err := CompilePolicy(p)
	if err != nil {
		b.Fatal(err)
	}
	test := readBanking77(b, "test.csv")
	timeCold(b, func(i int) { scoreUnexplained(cp, test[(i*37)%len(test)].text) })
}

// timeCold times score(i), the i-th operation, with the caches evicted
// before each (coldCacheBytes read), and reports its mean (score-ns/op)
// and the median of the last coldSamples (score-p50-ns).
func timeCold(b *testing.B, score func(i int)) {
	evict := make([]byte, coldCacheBytes)
	samples := make([]time.Duration, coldSamples)
	var sink byte
	b.ReportAllocs()
	b.ResetTimer()
	var scoring time.Duration
	i := 0
	for b.Loop() {
		sink += evictCaches(evict)
		start := time.Now()
		score(i)
		took := time.Since(start)
		scoring += took
		samples[i%coldSamples] = took
		i++
	}
	b.ReportMetric(float64(scoring.Nanoseconds())/float64(b.N), "score-ns/op")
	samples = samples[:min(i, coldSamples)]
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "score-p50-ns")
	evict[0] = sink // keeps the reads
}

// evictCaches reads a byte of each 64-byte line of buf, and returns their
// sum so that the reads are kept.
//
//go:noinline
func evictCaches(buf []byte) byte {
	var sum byte
	for k := 0; k < len(buf); k += 64 {
		sum += buf[k]
	}
	return sum
}
