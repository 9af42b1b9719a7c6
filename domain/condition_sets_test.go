package domain

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// globalOf is a compiled policy whose rules' and entries' matcher holds
// these examples, all stayExamples reads.
func globalOf(examples [][]string) *CompiledPolicy {
	return &CompiledPolicy{global: &conditionSet{examples: examples}}
}

// numbered is n conditions of k examples each, "c<i> phrasing <j>".
func numbered(n, k int) [][]string {
	out := make([][]string, n)
	for i := range out {
		for j := range k {
			out[i] = append(out[i], fmt.Sprintf("c%d phrasing %d", i, j))
		}
	}
	return out
}

func TestStayExamplesTakeEachConditionsFirstThenSecond(t *testing.T) {
	global := [][]string{
		{"Where is my card?", "card not here yet"},
		{"cancel my order", "Stop the order"},       // shares a phrasing with the step's exit
		{"has my card shipped", "where is my card"}, // its second repeats the first's first
		{"reset my PIN"},
	}
	own := []MatcherCondition{{Examples: []string{"stop the order."}}}
	assert.Equal(t, []string{"Where is my card?", "has my card shipped", "reset my PIN", "card not here yet"},
		globalOf(global).stayExamples(own),
		"round by round, leaving out the condition that shares a phrasing with the step's and each phrasing taken once")
}

func TestStayExamplesStopAtTheirBound(t *testing.T) {
	got := globalOf(numbered(300, 3)).stayExamples(nil)
	require.Len(t, got, stayExamples)
	assert.Equal(t, "c0 phrasing 0", got[0])
	assert.Equal(t, fmt.Sprintf("c%d phrasing 0", stayExamples-1), got[stayExamples-1], "all from the first round")
	got = globalOf(numbered(100, 3)).stayExamples(nil)
	require.Len(t, got, stayExamples)
	assert.Equal(t, []string{"c0 phrasing 2", "c55 phrasing 2"}, []string{got[200], got[255]}, "the third round starts at 200")
}

// A step's matcher is compiled on the step's first turn at a policy
// version: what it reads of the policy must not grow with the policy's
// rules past the few hundred conditions its sample reaches (reading them
// all cost the first turn in a step about 100 ms at 10,000 rules).
func TestStayExamplesReadOnlyTheConditionsTheyTake(t *testing.T) {
	own := []MatcherCondition{{Examples: []string{"c7 phrasing 1", "something else"}}}
	allocs := func(n int) float64 {
		cp := globalOf(numbered(n, 5))
		return testing.AllocsPerRun(5, func() { cp.stayExamples(own) })
	}
	small, large := allocs(1000), allocs(10000)
	assert.Less(t, large, small*1.1, "allocations at 10,000 conditions (%.0f) against 1,000 (%.0f)", large, small)
	got := globalOf(numbered(10000, 5)).stayExamples(own)
	assert.False(t, slices.ContainsFunc(got, func(e string) bool { return e[:3] == "c7 " }), "the condition sharing a phrasing is left out")
	assert.Len(t, got, stayExamples)
}

func TestCompileStepsStopsWhenAsked(t *testing.T) {
	p := &Policy{Agent: Agent{ID: "a", Name: "a", Enabled: true}, Rules: []Rule{{ID: "r", Condition: "hello", Action: "Greet.", Scope: ScopeGlobal, Enabled: true}}}
	p.Scenarios = []Scenario{{ID: "s", EntryCondition: "start it", EntryStepID: "one", Enabled: true, Steps: []Step{
		{ID: "one", Transitions: []Transition{{To: "two", Condition: "go on"}}},
		{ID: "two", Transitions: []Transition{{To: "three", Condition: "go further"}}},
		{ID: "three", Terminal: true},
	}}}
	cp, err := CompilePolicy(p)
	require.NoError(t, err)
	require.Equal(t, 2, cp.StepMatchers())
	asked := 0
	cp.CompileSteps(func() bool { asked++; return asked > 1 })
	assert.Equal(t, 1, cp.StepsCompiled(), "stopped before the second")
	cp.CompileSteps(func() bool { return false })
	assert.Equal(t, 2, cp.StepsCompiled())
}
