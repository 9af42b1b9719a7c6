package memory

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

// fullTurn sets every field of a turn, at every depth, so that the checks
// below notice a field added to domain.Turn later.
func fullTurn() *domain.Turn {
	now := time.Now()
	sess := domain.NewSession("s1", domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}, now)
	sess.SetVariable("profile", map[string]any{"tags": []any{"x", map[string]any{"deep": 1.0}}})
	return &domain.Turn{
		ID: "turn", TenantID: "t", AgentID: "a", AgentVersion: 2, SessionID: "s1", TurnNumber: 1,
		RequestID: "r", Message: "m", Response: "resp", Status: domain.TurnCompleted, ErrorCode: domain.CodeLLMError,
		Explanation: domain.Explanation{
			Retrieval: domain.Retrieval{Mode: domain.RetrievalHybrid, SemanticWeight: 0.5, Note: "n",
				Judge: &domain.JudgeDecision{Asked: []string{"a"}, Applicable: []string{"b"}, Used: true, Reason: "r"}},
			Candidates: []domain.RuleCandidate{{RuleID: "r", Score: 1, Lexical: 1, Semantic: 1, Priority: 1, Matched: true}},
			Filtered:   []domain.FilteredRule{{RuleID: "r", Reason: "x"}},
			Matched:    []domain.RuleMatch{{RuleID: "r", Score: 1, Reason: "x"}},
			Scenario: domain.ScenarioDecision{Action: domain.ScenarioAdvance, Before: &domain.ScenarioRef{ID: "s", Step: "a"},
				After: &domain.ScenarioRef{ID: "s", Step: "b"}, Transition: &domain.Transition{To: "b", Condition: "c", Priority: 1},
				Score: 1, Reason: "x"},
			ToolCalls: []domain.ToolCall{{ToolID: "t", RuleID: "r", LatencyMS: 1, Error: "e",
				Input: map[string]any{"q": []any{1.0}}, Output: map[string]any{"o": map[string]any{"p": "v"}}}},
			Generation: domain.Generation{Source: domain.SourceModel, TemplateID: "t", ModelCalls: 1},
			Enforcement: domain.Enforcement{Rules: []string{"r"}, Regenerations: 1, Fallback: true, Refused: true,
				Violations: []domain.Violation{{RuleID: "r", Kind: domain.ConstraintForbidPhrase, Value: "v", Attempt: 1, Detail: "d"}}},
		},
		Model: "m", Usage: domain.TokenUsage{Prompt: 1, Completion: 1},
		Timings:  []domain.StepTiming{{Step: "s", DurationMS: 1}},
		Metadata: map[string]any{"k": map[string]any{"n": []any{"v"}}},
		Deltas:   []string{"d"}, LatencyMS: 1, CreatedAt: now, SessionAfter: sess,
	}
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	sessionType = reflect.TypeFor[domain.Session]()
)

// requireAllSet fails on any zero field (domain.Session has its own
// Clone and tests).
func requireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	require.False(t, v.IsZero(), "%s is not set in fullTurn: set it, and copy it in cloneTurn", path)
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		requireAllSet(t, v.Elem(), path)
	case reflect.Slice:
		for i := range v.Len() {
			requireAllSet(t, v.Index(i), path+"[]")
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			requireAllSet(t, v.MapIndex(k), path+"."+k.String())
		}
	case reflect.Struct:
		if v.Type() == timeType || v.Type() == sessionType {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				requireAllSet(t, v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	}
}

// requireNoAlias fails when the copy shares memory with the original.
func requireNoAlias(t *testing.T, a, b reflect.Value, path string) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if a.IsNil() {
			return
		}
		require.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared between the turn and its copy", path)
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		requireNoAlias(t, a.Elem(), b.Elem(), path)
	case reflect.Slice:
		for i := range a.Len() {
			requireNoAlias(t, a.Index(i), b.Index(i), path+"[]")
		}
	case reflect.Map:
		for _, k := range a.MapKeys() {
			requireNoAlias(t, a.MapIndex(k), b.MapIndex(k), path+"."+k.String())
		}
	case reflect.Struct:
		if a.Type() == timeType {
			return
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				requireNoAlias(t, a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)
			}
		}
	}
}

func TestCloneTurnIsDeep(t *testing.T) {
	orig := fullTurn()
	requireAllSet(t, reflect.ValueOf(orig).Elem(), "Turn")
	c := cloneTurn(orig)
	require.Equal(t, orig, c)
	requireNoAlias(t, reflect.ValueOf(orig), reflect.ValueOf(c), "Turn")
	require.Nil(t, cloneTurn(nil))
}

func BenchmarkCloneTurn(b *testing.B) {
	orig := fullTurn()
	for b.Loop() {
		_ = cloneTurn(orig)
	}
}

func BenchmarkCloneTurnJSON(b *testing.B) {
	orig := fullTurn()
	for b.Loop() {
		_, _ = cloneJSON(*orig)
	}
}
