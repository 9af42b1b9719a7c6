package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

func TestAgentDecodingDefaultsEnabled(t *testing.T) {
	tests := []struct {
		json string
		want bool
	}{
		{`{"id":"a","name":"A"}`, true},
		{`{"id":"a","name":"A","enabled":true}`, true},
		{`{"id":"a","name":"A","enabled":false}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			var a domain.Agent
			require.NoError(t, json.Unmarshal([]byte(tt.json), &a))
			require.Equal(t, tt.want, a.Enabled)
			require.Equal(t, "a", a.ID)
		})
	}
}

func TestRuleDecodingDefaults(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		enabled bool
		scope   domain.RuleScope
	}{
		{"missing enabled and scope", `{"id":"r","condition":"c","action":"a"}`, true, domain.ScopeGlobal},
		{"explicit disabled", `{"id":"r","enabled":false}`, false, domain.ScopeGlobal},
		{"empty scope is global", `{"id":"r","scope":""}`, true, domain.ScopeGlobal},
		{"explicit scope kept", `{"id":"r","scope":"step","scope_id":"s/a"}`, true, domain.ScopeStep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r domain.Rule
			require.NoError(t, json.Unmarshal([]byte(tt.json), &r))
			require.Equal(t, tt.enabled, r.Enabled)
			require.Equal(t, tt.scope, r.Scope)
		})
	}
}

func TestScenarioDecodingDefaultsEnabled(t *testing.T) {
	var s domain.Scenario
	require.NoError(t, json.Unmarshal([]byte(`{"id":"s","entry_step_id":"a","steps":[{"id":"a"}]}`), &s))
	require.True(t, s.Enabled)
	require.NotNil(t, s.Step("a"))
	require.Nil(t, s.Step("b"))

	require.NoError(t, json.Unmarshal([]byte(`{"id":"s","enabled":false}`), &s))
	require.False(t, s.Enabled)
}

func TestDecodingRejectsBadJSON(t *testing.T) {
	require.Error(t, json.Unmarshal([]byte(`{"id":1}`), &domain.Agent{}))
	require.Error(t, json.Unmarshal([]byte(`{"enabled":"yes"}`), &domain.Rule{}))
	require.Error(t, json.Unmarshal([]byte(`[]`), &domain.Scenario{}))
}

func TestPolicyDecodingAppliesNestedDefaults(t *testing.T) {
	raw := `{
		"agent": {"id": "shop", "name": "Shop"},
		"rules": [{"id": "r1", "condition": "refund", "action": "explain"}],
		"scenarios": [{"id": "s1", "entry_condition": "return", "entry_step_id": "a", "steps": [{"id": "a"}]}],
		"templates": [{"id": "t1", "text": "hi", "mode": "suggest"}]
	}`
	var p domain.Policy
	require.NoError(t, json.Unmarshal([]byte(raw), &p))
	require.True(t, p.Agent.Enabled)
	require.True(t, p.Rules[0].Enabled)
	require.Equal(t, domain.ScopeGlobal, p.Rules[0].Scope)
	require.True(t, p.Scenarios[0].Enabled)
	require.Empty(t, p.Validate())

	// A round trip keeps everything.
	out, err := json.Marshal(&p)
	require.NoError(t, err)
	var again domain.Policy
	require.NoError(t, json.Unmarshal(out, &again))
	require.Equal(t, p, again)
}

func TestAgentSettingsWithDefaults(t *testing.T) {
	got := domain.AgentSettings{}.WithDefaults()
	require.Equal(t, domain.DefaultHistoryTurns, *got.HistoryTurns)
	require.Equal(t, domain.DefaultMatchThreshold, got.MatchThreshold)
	require.Nil(t, got.SemanticWeight, "semantic_weight is deprecated and has no default")
	require.Equal(t, domain.DefaultTopK, got.TopK)
	require.Equal(t, domain.DefaultScenarioEntryThreshold, got.ScenarioEntryThreshold)
	require.Equal(t, domain.DefaultTransitionThreshold, got.TransitionThreshold)
	require.Equal(t, domain.DefaultTransitionMargin, *got.TransitionMargin)
	require.Equal(t, domain.DefaultMaxStepVisits, got.MaxStepVisits)
	require.Equal(t, domain.DefaultRefusal, got.RefusalMessage)
	require.NotNil(t, got.MaxRegenerations)
	require.Equal(t, domain.DefaultMaxRegenerations, *got.MaxRegenerations)
	require.Nil(t, got.Temperature, "temperature stays with the model")
	require.Equal(t, 0, got.MaxTokens, "max tokens stays with the model")

	zero := 0
	temp := 0.2
	set := domain.AgentSettings{
		Model: "m", Temperature: &temp, MaxTokens: 300, HistoryTurns: ptr(4), RuleJudge: true,
		MatchThreshold: 0.6, SemanticWeight: ptr(0.3), TopK: 2, ScenarioEntryThreshold: 0.7,
		TransitionThreshold: 0.4, TransitionMargin: ptr(0.1), MaxStepVisits: 5,
		MaxRegenerations: &zero, RefusalMessage: "No.",
	}
	require.Equal(t, set, set.WithDefaults(), "set fields are kept")
	require.Equal(t, 0, *set.WithDefaults().MaxRegenerations, "an explicit 0 regenerations is kept")
}

// docs/agent-bundle.md (Agent, settings table) documents each default as
// a number: the literals are asserted here, since comparing with the
// Default* constants alone would follow the code wherever it moved.
func TestAgentSettingsDefaultsAreTheDocumentedNumbers(t *testing.T) {
	got := domain.AgentSettings{}.WithDefaults()
	require.Equal(t, 10, *got.HistoryTurns, "history_turns")
	require.Equal(t, 10, got.HistoryTurnsOrDefault(), "history_turns, as a store reads it")
	require.Equal(t, 0.5, got.MatchThreshold, "match_threshold")
	require.Equal(t, 5, got.TopK, "top_k")
	require.Equal(t, 0.5, got.ScenarioEntryThreshold, "scenario_entry_threshold")
	require.Equal(t, 0.5, got.TransitionThreshold, "transition_threshold")
	require.Equal(t, 0.1, *got.TransitionMargin, "transition_margin")
	require.Equal(t, 0.1, got.TransitionMarginOrDefault(), "transition_margin, as navigation reads it")
	require.Equal(t, 3, got.MaxStepVisits, "max_step_visits")
	require.Equal(t, 1, *got.MaxRegenerations, "max_regenerations")
	require.False(t, got.RuleJudge, "rule_judge")
	require.Empty(t, got.TimeZone, "time_zone: empty is read as UTC")
	require.Empty(t, got.Commands, "commands: none")
	require.Empty(t, got.Model, "model: the service's default")
}

func TestConstraintLexicalKinds(t *testing.T) {
	tests := []struct {
		kind domain.ConstraintKind
		want bool
	}{
		{domain.ConstraintForbidPhrase, true},
		{domain.ConstraintForbidPattern, true},
		{domain.ConstraintRequirePhrase, false},
		{domain.ConstraintExpression, false},
		{domain.ConstraintJudge, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			require.Equal(t, tt.want, domain.Constraint{Kind: tt.kind, Value: "x"}.Lexical())
		})
	}
}

// Zero is a real choice where it means something: no history, no margin.
func TestSettingsKeepAnExplicitZero(t *testing.T) {
	var s domain.AgentSettings
	require.NoError(t, json.Unmarshal([]byte(`{"history_turns":0,"semantic_weight":0,"transition_margin":0}`), &s))
	got := s.WithDefaults()
	require.Equal(t, 0, *got.HistoryTurns)
	require.Equal(t, 0.0, *got.SemanticWeight)
	require.Equal(t, 0.0, *got.TransitionMargin)
}

// HistoryTurnsOrDefault reads what WithDefaults would give, set or unset,
// zero included.
func TestHistoryTurnsOrDefaultIsWithDefaults(t *testing.T) {
	for _, s := range []domain.AgentSettings{{}, {HistoryTurns: ptr(4)}, {HistoryTurns: ptr(0)}} {
		require.Equal(t, *s.WithDefaults().HistoryTurns, s.HistoryTurnsOrDefault())
	}
}
