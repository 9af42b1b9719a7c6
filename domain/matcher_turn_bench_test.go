package domain

import (
	"fmt"
	"testing"
)

// BenchmarkTurnMatching is a returning customer's turn of matching at a
// scenario step, the make bench mix's: the message scored against 100
// rules (Banking77 intents, up to 40 examples each, recombined beyond 77)
// and the scenario entry, then at the step (its transition, the exit and
// staying), then the best three rules explained.
func BenchmarkTurnMatching(b *testing.B) {
	train, test := readBanking77(b, "train.csv"), readBanking77(b, "test.csv")
	conds, _ := banking77Conditions(train, 40)
	p := &Policy{Agent: Agent{ID: "bench", Name: "bench", Enabled: true}}
	for i := range 100 {
		c := conds[i%len(conds)]
		ex := c.Examples
		if i >= len(conds) {
			ex = ex[len(ex)/2:]
		}
		p.Rules = append(p.Rules, Rule{ID: fmt.Sprint("r", i), Condition: ex[0], Examples: ex[1:], Action: "Help.",
			Scope: ScopeGlobal, Enabled: true})
	}
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
	asked := "Ask when the card was ordered.\nThanks for reaching out about your order. I have checked the details."
	cp.ScoreMessage("hello", nil).Step("flow", "s0", asked) // compile the step outside the timer
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuNow()
	i := 0
	for b.Loop() {
		s := cp.ScoreMessage(test[(i*37)%len(test)].text, nil)
		s.Step("flow", "s0", asked)
		for _, r := range s.Rules()[:min(3, s.NumRules())] {
			s.ExplainRule(r.Index)
		}
		i++
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
}
