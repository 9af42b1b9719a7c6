package domain_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// lintPolicy is a small shop whose conditions are written well: lint finds
// nothing to say about it.
func lintPolicy() *domain.Policy {
	rule := func(id, condition string, examples ...string) domain.Rule {
		return domain.Rule{ID: id, Condition: condition, Examples: examples, Action: "Help.", Scope: domain.ScopeGlobal, Enabled: true}
	}
	return &domain.Policy{
		Agent: domain.Agent{ID: "shop", Name: "Shop", Enabled: true},
		Rules: []domain.Rule{
			rule("hours", "opening hours", "when do you open", "what are your opening hours", "are you open on sunday",
				"what time do you close today", "is the shop open late on thursdays"),
			rule("shipping", "shipping times", "how long does delivery take", "do you ship abroad", "how much is express shipping",
				"when will my parcel arrive", "can I get next day delivery"),
			rule("human", "talk to a person", "I want to talk to a human", "can I speak to a real person", "connect me with an agent",
				"is there someone I can chat with", "put me through to customer service"),
		},
		Scenarios: []domain.Scenario{{ID: "returns", EntryCondition: "return an item", Enabled: true, EntryStepID: "ask",
			EntryExamples: []string{"I want to return my jacket", "can I send these shoes back", "I'd like to return an item",
				"how do I return this dress", "start a return please"},
			ExitExamples: []string{"cancel the return", "I'll keep it after all", "forget the return"},
			Steps: []domain.Step{
				{ID: "ask", Transitions: []domain.Transition{{To: "done", Condition: "gives the reason",
					Examples: []string{"it was too small", "the colour is wrong", "it arrived damaged", "I changed my mind about it",
						"it doesn't fit me"}}}},
				{ID: "done", Terminal: true},
			}}},
	}
}

func warningsByCode(ws []domain.LintWarning) map[string][]domain.LintWarning {
	out := map[string][]domain.LintWarning{}
	for _, w := range ws {
		out[w.Code] = append(out[w.Code], w)
	}
	return out
}

func TestLintFindsNothingInAWellWrittenPolicy(t *testing.T) {
	p := lintPolicy()
	require.Empty(t, p.Validate())
	assert.Empty(t, domain.LintPolicy(p))
}

func TestLintWarnsAboutDeprecatedSettings(t *testing.T) {
	p := lintPolicy()
	w := 0.5
	p.Agent.Settings.SemanticWeight = &w
	got := warningsByCode(domain.LintPolicy(p))[domain.LintDeprecatedSetting]
	require.Len(t, got, 1)
	assert.Equal(t, "agent.settings.semantic_weight", got[0].Field)
	assert.Contains(t, got[0].Message, "no longer has an effect")
}

func TestLintWarnsAboutOneWordConditions(t *testing.T) {
	p := lintPolicy()
	p.Rules = append(p.Rules, domain.Rule{ID: "damaged", Condition: "damaged; broken; torn", Action: "Sorry.",
		Scope: domain.ScopeGlobal, Enabled: true})
	p.Scenarios[0].Steps[0].Transitions[0] = domain.Transition{To: "done", Condition: "AC"}
	got := warningsByCode(domain.LintPolicy(p))[domain.LintOneWordCondition]
	require.Len(t, got, 2, "%v", got)
	assert.Equal(t, "rules[3].condition", got[0].Field)
	assert.Contains(t, got[0].Message, `"damaged", "broken", "torn"`)
	assert.Equal(t, "scenarios[0].steps[0].transitions[0]", got[1].Field)
}

func TestLintFindsPhrasingsThatCompetingConditionsShare(t *testing.T) {
	p := lintPolicy()
	p.Rules[1].Examples = append(p.Rules[1].Examples, "When do you open?")
	got := warningsByCode(domain.LintPolicy(p))[domain.LintExampleCollision]
	require.NotEmpty(t, got)
	assert.Equal(t, "rules[1].examples[5]", got[0].Field, "the later of the two phrasings is pointed at")
	assert.Contains(t, got[0].Message, "rules[0].examples[0]")
	assert.Contains(t, got[0].Message, "rule hours")
}

// A scenario's own rules never compete with its entry (it is not scored
// while they are live), so sharing phrasings with it is no collision.
func TestLintLetsAScenarioRuleShareItsEntrysPhrasings(t *testing.T) {
	p := lintPolicy()
	p.Rules = append(p.Rules, domain.Rule{ID: "again", Condition: "return an item", Examples: p.Scenarios[0].EntryExamples,
		Action: "Explain.", Scope: domain.ScopeScenario, ScopeID: "returns", Enabled: true})
	p.Rules[len(p.Rules)-1].Examples = append([]string{"I want to return something else too"}, p.Rules[len(p.Rules)-1].Examples[1:]...)
	got := warningsByCode(domain.LintPolicy(p))
	assert.Empty(t, got[domain.LintExampleCollision])
	assert.Empty(t, got[domain.LintInseparable])
}

func TestLintFindsConditionsTheMatcherCannotTellApart(t *testing.T) {
	p := lintPolicy()
	// A second hours rule in other words for the same questions.
	p.Rules = append(p.Rules, domain.Rule{ID: "times", Condition: "store times", Action: "Give them.", Scope: domain.ScopeGlobal, Enabled: true,
		Examples: []string{"when do you open on saturday", "what are your hours today", "are you open on bank holidays",
			"what time do you open", "what time does the store close"}})
	got := warningsByCode(domain.LintPolicy(p))[domain.LintInseparable]
	require.NotEmpty(t, got)
	fields := ""
	for _, w := range got {
		fields += w.Field + " " + w.Message + "\n"
	}
	assert.Contains(t, fields, "rules[3].condition")
	assert.Contains(t, fields, "rule hours")
}

func TestLintFindsTransitionsThatCanNeverBeTaken(t *testing.T) {
	t.Run("from a terminal step", func(t *testing.T) {
		p := lintPolicy()
		p.Scenarios[0].Steps[1].Transitions = []domain.Transition{{To: "ask", Condition: "start over",
			Examples: []string{"let me start again", "go back to the beginning"}}}
		got := warningsByCode(domain.LintPolicy(p))[domain.LintTransitionNeverFires]
		require.Len(t, got, 1)
		assert.Equal(t, "scenarios[0].steps[1].transitions[0]", got[0].Field)
		assert.Contains(t, got[0].Message, "terminal")
	})
	t.Run("beside one with the same examples", func(t *testing.T) {
		for _, tc := range []struct {
			priority int
			fields   []string
		}{
			{0, []string{"scenarios[0].steps[0].transitions[0]", "scenarios[0].steps[0].transitions[1]"}},
			{-5, []string{"scenarios[0].steps[0].transitions[1]"}},
		} {
			p := lintPolicy()
			p.Scenarios[0].Steps = append(p.Scenarios[0].Steps, domain.Step{ID: "other", Terminal: true})
			st := &p.Scenarios[0].Steps[0]
			twin := st.Transitions[0]
			twin.To, twin.Priority = "other", tc.priority
			st.Transitions = append(st.Transitions, twin)
			require.Empty(t, p.Validate())
			var fields []string
			for _, w := range warningsByCode(domain.LintPolicy(p))[domain.LintTransitionNeverFires] {
				fields = append(fields, w.Field)
			}
			assert.ElementsMatch(t, tc.fields, fields, "priority %d", tc.priority)
		}
	})
}

// The self-check trains the matcher again per example it leaves out: a
// policy too large for that at import says so instead of taking minutes.
func TestLintSkipsTheSelfCheckOfVeryLargePolicies(t *testing.T) {
	p := lintPolicy()
	for i := range 420 {
		r := domain.Rule{ID: fmt.Sprintf("bulk%d", i), Condition: fmt.Sprintf("topic %d", i), Action: "Help.", Scope: domain.ScopeGlobal, Enabled: true}
		for j := range 48 {
			r.Examples = append(r.Examples, fmt.Sprintf("question %d about topic %d", j, i))
		}
		p.Rules = append(p.Rules, r)
	}
	got := warningsByCode(domain.LintPolicy(p))
	require.Len(t, got[domain.LintSelfCheckSkipped], 1)
	assert.True(t, strings.Contains(got[domain.LintSelfCheckSkipped][0].Message, "20000"))
	assert.Empty(t, got[domain.LintExampleCollision])
}
