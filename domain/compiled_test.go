package domain_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

func TestSplitCondition(t *testing.T) {
	tests := []struct {
		name      string
		condition string
		want      []string
	}{
		{"single phrasing", "store hours", []string{"store hours"}},
		{"semicolons", "store hours; when do you open", []string{"store hours", "when do you open"}},
		{"newlines", "store hours\nwhen do you open\r\nclosing time", []string{"store hours", "when do you open", "closing time"}},
		{"trimmed", "  store hours ;\t when do you open  ", []string{"store hours", "when do you open"}},
		{"empty parts dropped", ";;store hours;  ;\n\n;when do you open;", []string{"store hours", "when do you open"}},
		{"empty condition", "", nil},
		{"only separators", " ; \n ; ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := domain.SplitCondition(tt.condition)
			if tt.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func mustCompile(t *testing.T) *domain.CompiledPolicy {
	t.Helper()
	p := shopPolicy()
	require.Empty(t, p.Validate())
	cp, err := domain.CompilePolicy(p)
	require.NoError(t, err)
	return cp
}

func ruleScores(hits []domain.RuleHit) map[string]float64 {
	out := map[string]float64{}
	for _, h := range hits {
		out[h.Rule.ID] = h.Score
	}
	return out
}

func TestCompilePolicyAppliesSettingDefaults(t *testing.T) {
	cp := mustCompile(t)
	require.Equal(t, domain.DefaultTopK, cp.Settings.TopK)
	require.Equal(t, domain.DefaultMatchThreshold, cp.Settings.MatchThreshold)
	// One document per alternative: 9 rules (r_refund has two), 2 entries
	// (returns has two), 2 exit alternatives and 3 transitions.
	require.Equal(t, 10+3+2+3, cp.Conditions.Len())
	require.Len(t, cp.Alternatives, cp.Conditions.Len())
}

func TestSearchRulesScoresARuleAsItsBestAlternative(t *testing.T) {
	cp := mustCompile(t)
	tests := []struct {
		name    string
		message string
		want    map[string]float64 // rule → score; other rules must not appear
	}{
		{"second alternative fully covered", "can I get my money back", map[string]float64{"r_refund": 1}},
		{"first alternative fully covered", "what is the refund policy", map[string]float64{"r_refund": 1}},
		{"two rules hit", "refund policy and store opening hours", map[string]float64{"r_refund": 1, "r_hours": 1}},
		{"unrelated message", "do you sell umbrellas", map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := cp.SearchRules(domain.NewQuery(tt.message))
			got := ruleScores(hits)
			require.Len(t, got, len(tt.want), "hits: %v", got)
			for id, score := range tt.want {
				require.InDelta(t, score, got[id], 1e-9, id)
			}
			for _, h := range hits {
				require.Same(t, cp.Rule(h.Rule.ID), h.Rule)
				require.Equal(t, h.Rule.ID, cp.Policy.Rules[h.Index].ID)
				require.Equal(t, h.Score, h.Lexical)
			}
		})
	}
}

func TestSearchRulesPartialAlternativeScoresBelowOne(t *testing.T) {
	cp := mustCompile(t)
	got := ruleScores(cp.SearchRules(domain.NewQuery("what about money")))
	require.Contains(t, got, "r_refund")
	require.Greater(t, got["r_refund"], 0.0)
	require.Less(t, got["r_refund"], 1.0)
}

func TestEntryAndExitScores(t *testing.T) {
	cp := mustCompile(t)
	tests := []struct {
		name     string
		message  string
		scenario string
		entry    float64
		exit     float64
	}{
		{"entry alternative covered", "I want to return an item", "returns", 1, 0},
		{"second entry alternative", "can I send this product back", "returns", 1, 0},
		{"exit alternative covered", "oh forget it", "returns", 0, 1},
		{"scenario without exit condition", "forget it", "support", 0, 0},
		{"unknown scenario", "return an item", "nope", 0, 0},
		{"unrelated", "store hours", "returns", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := domain.NewQuery(tt.message)
			require.InDelta(t, tt.entry, cp.EntryScore(q, tt.scenario), 1e-9)
			require.InDelta(t, tt.exit, cp.ExitScore(q, tt.scenario), 1e-9)
		})
	}
}

func TestTransitionScoresFollowDeclarationOrder(t *testing.T) {
	cp := mustCompile(t)
	got := cp.TransitionScores(domain.NewQuery("it arrived broken"), "returns", "ask_reason")
	require.Len(t, got, 2)
	require.Greater(t, got[0], 0.0)
	require.Equal(t, 0.0, got[1])

	got = cp.TransitionScores(domain.NewQuery("I changed my mind"), "returns", "ask_reason")
	require.Equal(t, 0.0, got[0])
	require.InDelta(t, 1.0, got[1], 1e-9)

	require.Empty(t, cp.TransitionScores(domain.NewQuery("anything"), "returns", "done"))
	require.Empty(t, cp.TransitionScores(domain.NewQuery("anything"), "returns", "missing"))
}

func TestInScope(t *testing.T) {
	cp := mustCompile(t)
	index := func(id string) int {
		i := slices.IndexFunc(cp.Policy.Rules, func(r domain.Rule) bool { return r.ID == id })
		require.GreaterOrEqual(t, i, 0, id)
		return i
	}
	at := func(scenario, step string) *domain.ScenarioPosition {
		return &domain.ScenarioPosition{ScenarioID: scenario, StepID: step}
	}
	tests := []struct {
		name string
		rule string
		pos  *domain.ScenarioPosition
		want bool
	}{
		{"global outside scenarios", "r_hours", nil, true},
		{"global inside a scenario", "r_hours", at("returns", "label"), true},
		{"scenario rule outside scenarios", "r_scn", nil, false},
		{"scenario rule in its scenario", "r_scn", at("returns", "ask_reason"), true},
		{"scenario rule in another scenario", "r_scn", at("support", "triage"), false},
		{"step rule outside scenarios", "r_step", nil, false},
		{"step rule at its step", "r_step", at("returns", "label"), true},
		{"step rule at another step", "r_step", at("returns", "ask_reason"), false},
		{"step rule at same-named step elsewhere", "r_step", at("support", "label"), false},
		{"rule listed in step rule_ids", "r_listed", at("returns", "ask_reason"), true},
		{"listed rule keeps its own scope", "r_listed", at("returns", "label"), true},
		{"listed rule elsewhere", "r_listed", at("returns", "done"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, cp.InScope(index(tt.rule), tt.pos))
		})
	}
}

func TestGlobalHardRulesAreEnabledGlobalHardRulesWithConstraints(t *testing.T) {
	cp := mustCompile(t)
	require.Equal(t, []string{"r_refund", "r_hard_global"}, cp.GlobalHardRules())
}

func TestFallbackTemplateIsTheFirstFallback(t *testing.T) {
	cp := mustCompile(t)
	require.Equal(t, "t_fb1", cp.FallbackTemplate())

	p := shopPolicy()
	p.Templates = p.Templates[:1]
	p.Rules = nil
	p.Scenarios[0].Steps[0].RuleIDs = nil
	cp, err := domain.CompilePolicy(p)
	require.NoError(t, err)
	require.Equal(t, "", cp.FallbackTemplate())
}

func TestCompiledLookups(t *testing.T) {
	cp := mustCompile(t)

	tpl, parsed, ok := cp.Template("t_hello")
	require.True(t, ok)
	require.Equal(t, domain.ModeSuggest, tpl.Mode)
	require.Equal(t, []string{"name", "order.id"}, parsed.Variables())
	text, missing := parsed.Render(map[string]any{"name": "Ana", "order.id": 42})
	require.Equal(t, "Hello Ana, your order 42 is on its way.", text)
	require.Empty(t, missing)

	_, _, ok = cp.Template("nope")
	require.False(t, ok)

	require.Equal(t, "r_hours", cp.Rule("r_hours").ID)
	require.Nil(t, cp.Rule("nope"))
	require.Equal(t, "https://tools.example.com/order", cp.Tool("tool_order").URL)
	require.Nil(t, cp.Tool("nope"))
	require.Equal(t, "ask_reason", cp.Scenario("returns").EntryStepID)
	require.Nil(t, cp.Scenario("nope"))

	cs := cp.Constraints("r_refund")
	require.Len(t, cs, 1)
	require.Equal(t, "r_refund", cs[0].RuleID)
	require.NotEmpty(t, cs[0].CheckLexical("We offer a Guaranteed   Refund."))
	require.Empty(t, cp.Constraints("r_hours"))
}

func TestCompilePolicyRejectsWhatCannotBePrepared(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *domain.Policy)
		want   string
	}{
		{"bad pattern", func(p *domain.Policy) {
			p.Rules[0].Constraints = []domain.Constraint{{Kind: domain.ConstraintForbidPattern, Value: "(unclosed"}}
		}, "rule r_refund"},
		{"bad template", func(p *domain.Policy) { p.Templates[0].Text = "Hello {name" }, "template t_hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := shopPolicy()
			tt.mutate(p)
			_, err := domain.CompilePolicy(p)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
