package application

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// A replayed turn names each kind of change between the recorded turn and
// its replay, and only those: a turn that left the store_hours rule for
// the fallback template changed its rules, template and reply, not its
// step. Each kind on its own is seen.
func TestReplayNamesEachKindOfChange(t *testing.T) {
	recorded := TurnView{MatchedRules: []string{"store_hours"}, Scenario: &domain.ScenarioRef{ID: "returns", Step: "ask_order"},
		Template: "hours", Enforcement: EnforcementPassed, Reply: "We open at 9."}
	cases := []struct {
		name   string
		replay func(v *TurnView)
		want   []string
	}{
		{"nothing", func(*TurnView) {}, []string{}},
		{"the same step, read anew", func(v *TurnView) { v.Scenario = &domain.ScenarioRef{ID: "returns", Step: "ask_order"} }, []string{}},
		{"another rule", func(v *TurnView) { v.MatchedRules = []string{"greeting"} }, []string{ChangeRules}},
		{"another step", func(v *TurnView) { v.Scenario.Step = "ask_reason" }, []string{ChangeScenario}},
		{"out of the flow", func(v *TurnView) { v.Scenario = nil }, []string{ChangeScenario}},
		{"another template", func(v *TurnView) { v.Template = "fallback" }, []string{ChangeTemplate}},
		{"regenerated", func(v *TurnView) { v.Enforcement = EnforcementRegenerated }, []string{ChangeEnforcement}},
		{"another reply", func(v *TurnView) { v.Reply = "We open at 10." }, []string{ChangeReply}},
		{"the rule dropped", func(v *TurnView) {
			v.MatchedRules, v.Template, v.Reply = []string{}, "fallback", "Sorry?"
		}, []string{ChangeRules, ChangeTemplate, ChangeReply}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			replayed := recorded
			replayed.MatchedRules = append([]string{}, recorded.MatchedRules...)
			s := *recorded.Scenario
			replayed.Scenario = &s
			c.replay(&replayed)
			assert.Equal(t, c.want, changes(recorded, replayed))
		})
	}
}

// The enforcement a turn view shows is its record's strongest outcome:
// refused over fallback over regenerated over passed; none when no hard
// constraint was in scope.
func TestReplayViewsTheEnforcementOutcome(t *testing.T) {
	cases := []struct {
		enforcement domain.Enforcement
		want        string
	}{
		{domain.Enforcement{}, EnforcementNone},
		{domain.Enforcement{Rules: []string{"no_promises"}}, EnforcementPassed},
		{domain.Enforcement{Rules: []string{"no_promises"}, Regenerations: 1}, EnforcementRegenerated},
		{domain.Enforcement{Rules: []string{"no_promises"}, Regenerations: 2, Fallback: true}, EnforcementFallback},
		{domain.Enforcement{Rules: []string{"no_promises"}, Regenerations: 2, Fallback: true, Refused: true}, EnforcementRefused},
	}
	for _, c := range cases {
		e := domain.NewExplanation()
		e.Enforcement = c.enforcement
		assert.Equal(t, c.want, viewOf("reply", &e).Enforcement, "%+v", c.enforcement)
	}
}

// An expectation breaks when a kind it holds changes, or when the turn
// could not be replayed at all; a turn without one never breaks.
func TestReplayExpectationBreaks(t *testing.T) {
	cases := []struct {
		name            string
		expect, changed []string
		want            bool
	}{
		{"no expectation", []string{}, []string{ChangeRules, ChangeError}, false},
		{"a held kind changed", []string{ChangeScenario, ChangeReply}, []string{ChangeReply}, true},
		{"another kind changed", []string{ChangeScenario}, []string{ChangeReply}, false},
		{"not replayed", []string{ChangeScenario}, []string{ChangeError}, true},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, broken(c.expect, c.changed), c.name)
	}
	assert.Equal(t, []string{ChangeScenario, ChangeReply}, expectationOf(map[string]any{ExpectKey: []any{"reply", "scenario", "mood"}}),
		"the kinds listed, in report order; an unknown one ignored")
	assert.Equal(t, ReplayKinds, expectationOf(map[string]any{ExpectKey: true}))
	assert.Empty(t, expectationOf(map[string]any{ExpectKey: false}))
}

// A replayed turn's tools answer with what the same tool answered when the
// turn was recorded; a tool that failed then, or was not called, fails
// now too, rather than answering with another call's output.
func TestReplaySandboxAnswersWithTheRecordedCall(t *testing.T) {
	sb := newReplaySandbox()
	rec := &domain.Turn{Explanation: domain.NewExplanation()}
	rec.Explanation.ToolCalls = []domain.ToolCall{
		{ToolID: "order_status", Error: "timeout"},
		{ToolID: "refund_state", Output: map[string]any{"refund": "sent"}},
		{ToolID: "order_status", Output: map[string]any{"state": "shipped"}},
	}
	sb.begin("s", rec)
	in := ports.ToolInput{SessionID: "s"}
	out, err := sb.InvokeTool(context.Background(), domain.Tool{ID: "order_status"}, in)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"state": "shipped"}, out, "the call that succeeded, not the failed one")
	out, err = sb.InvokeTool(context.Background(), domain.Tool{ID: "refund_state"}, in)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"refund": "sent"}, out)
	_, err = sb.InvokeTool(context.Background(), domain.Tool{ID: "loyalty_points"}, in)
	require.Error(t, err, "a tool the recorded turn did not call")

	rec.Explanation.ToolCalls = []domain.ToolCall{{ToolID: "order_status", Error: "timeout"}}
	sb.begin("s", rec)
	_, err = sb.InvokeTool(context.Background(), domain.Tool{ID: "order_status"}, in)
	require.Error(t, err, "a tool whose recorded call failed")
}
