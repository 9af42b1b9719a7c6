package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// Within the margin the highest priority wins even when it is not the
// runner-up; equal priorities at the top keep the scenario where it is.
func TestNavigateMarginConsidersEveryCloseTransition(t *testing.T) {
	pos := &domain.ScenarioPosition{ScenarioID: "s", StepID: "a", StepVisits: map[string]int{"a": 1}}
	d := domain.Navigate(&domain.NavigationInput{Position: pos, Settings: navSettings,
		Transitions: []domain.ScoredTransition{tr("b", 0.80, 0), tr("c", 0.79, 0), tr("d", 0.78, 10)}})
	require.Equal(t, domain.ScenarioAdvance, d.Action, d.Reason)
	assert.Equal(t, "d", d.After.Step)

	d = domain.Navigate(&domain.NavigationInput{Position: pos, Settings: navSettings,
		Transitions: []domain.ScoredTransition{tr("b", 0.80, 5), tr("c", 0.79, 5), tr("d", 0.70, 10)}})
	assert.Equal(t, domain.ScenarioStay, d.Action)
	assert.Contains(t, d.Reason, "ambiguous")
}

func TestPatternsMatchingEmptyTextAreRefused(t *testing.T) {
	p := shopPolicy()
	p.Rules[0].Hard = true
	p.Rules[0].Constraints = []domain.Constraint{{Kind: domain.ConstraintForbidPattern, Value: `\d*`}}
	errs := p.Validate()
	require.NotEmpty(t, errs)
	assert.Contains(t, errs[0].Message, "empty text")

	// A pattern that can match empty somewhere still only forbids real text.
	c, err := domain.PrepareConstraint("r", domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `(refund)?`})
	require.NoError(t, err)
	assert.Equal(t, -1, c.FirstForbidden("hello"))
	assert.Empty(t, c.CheckLexical("hello"))
	assert.Equal(t, 7, c.FirstForbidden("a full refund"))
}

func TestMaxStepVisitsIsValidated(t *testing.T) {
	p := shopPolicy()
	p.Agent.Settings.MaxStepVisits = -1
	errs := p.Validate()
	require.Len(t, errs, 1)
	assert.Equal(t, "agent.settings.max_step_visits", errs[0].Field)
}

// A forbidden phrase starts at a word boundary: "free" is not in
// "carefree", but a phrase may end inside a word.
func TestForbiddenPhraseStartsAtAWordBoundary(t *testing.T) {
	free, err := domain.PrepareConstraint("r", domain.Constraint{Kind: domain.ConstraintForbidPhrase, Value: "free"})
	require.NoError(t, err)
	assert.Empty(t, free.CheckLexical("a carefree weekend"))
	assert.NotEmpty(t, free.CheckLexical("it is free!"))
	assert.NotEmpty(t, free.CheckLexical("Freedom"), "a phrase may end inside a word")
	refund, err := domain.PrepareConstraint("r", domain.Constraint{Kind: domain.ConstraintForbidPhrase, Value: "guaranteed refund"})
	require.NoError(t, err)
	assert.Equal(t, 6, refund.FirstForbidden("Enjoy guaranteed refunds"))
}

// A clone that sets a variable owns all of its variables, nested values
// included: what it does to them afterwards never reaches the original.
func TestCloneCopiesNestedVariablesOnWrite(t *testing.T) {
	s := &domain.Session{Variables: map[string]any{"order": map[string]any{"status": "open", "items": []any{"a"}}}}
	c := s.Clone()
	c.SetVariable("seen", true)
	c.Variables["order"].(map[string]any)["status"] = "closed"
	c.Variables["order"].(map[string]any)["items"].([]any)[0] = "b"
	assert.Equal(t, "open", s.Variables["order"].(map[string]any)["status"])
	assert.Equal(t, "a", s.Variables["order"].(map[string]any)["items"].([]any)[0])
}

func TestCompilePolicyRefusesUnknownStepRules(t *testing.T) {
	p := shopPolicy()
	p.Scenarios[0].Steps[0].RuleIDs = []string{"no-such-rule"}
	_, err := domain.CompilePolicy(p)
	assert.ErrorContains(t, err, "no-such-rule")
}
