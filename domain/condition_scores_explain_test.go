package domain

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A turn explains its matched rules past the best few one by one, and
// MessageScores explains the next ones in the same pass, aside. Whatever
// the order they are asked for in, each rule's evidence must be what
// scoring that rule alone gives, and asking for one must not change what
// Rules gives for the others (their examples reach a turn's record only
// when the turn asks for them).
func TestExplainingRulesPastTheBestFewOneByOne(t *testing.T) {
	b77, _ := banking77Conditions(readBanking77(t, "train.csv"), 10)
	p := &Policy{Agent: Agent{ID: "explain", Name: "explain", Enabled: true}}
	for i, c := range b77[:40] {
		p.Rules = append(p.Rules, Rule{ID: fmt.Sprint("r", i), Condition: c.Examples[0], Examples: c.Examples[1:],
			Action: "Help.", Scope: ScopeGlobal, Enabled: true})
	}
	cp, err := CompilePolicy(p)
	require.NoError(t, err)
	alone := func(s *MessageScores, rule int) ConditionEvidence {
		return cp.global.evidence(cp.global.matcher.Score(s.in, []int{cp.ruleCond[rule]})[0])
	}
	tried := 0
	for _, r := range readBanking77(t, "test.csv") {
		msg := r.text
		s := cp.ScoreMessage(msg, nil)
		rules := s.Rules()
		if len(rules) < 9 {
			continue // too few rules past the best three
		}
		if tried++; tried > 5 {
			break
		}
		// Past the best three, asked for out of order: the fifth, then
		// the fourth, then the sixth and later.
		order := []int{4, 3}
		for k := 5; k < 9; k++ {
			order = append(order, k)
		}
		for _, k := range order {
			before := s.Rules()
			got := s.ExplainRule(rules[k].Index)
			assert.Equal(t, alone(s, rules[k].Index), got, "%q: rule %d of the ranking", msg, k)
			after := s.Rules()
			for j := range after {
				if after[j].Index != rules[k].Index {
					assert.Equal(t, before[j], after[j], "%q: explaining rule %d changed rule %d", msg, k, j)
				}
			}
		}
		s.Release()
	}
	require.Greater(t, tried, 5, "the test messages should rank enough rules")
}
