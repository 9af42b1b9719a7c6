package domain_test

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
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

// ruleScores maps each scored rule to its score.
func ruleScores(s *domain.MessageScores) map[string]float64 {
	out := map[string]float64{}
	for _, r := range s.Rules() {
		out[r.Rule.ID] = r.Score
	}
	return out
}

func TestCompilePolicyAppliesSettingDefaults(t *testing.T) {
	cp := mustCompile(t)
	require.Equal(t, domain.DefaultTopK, cp.Settings.TopK)
	require.Equal(t, domain.DefaultMatchThreshold, cp.Settings.MatchThreshold)
	// Every distinct example once: 10 rule alternatives and 11 examples,
	// 3 entry alternatives and 7 examples, 2 exit ones and 3 examples, 3
	// transition ones and 10 examples.
	require.Len(t, cp.ExampleTexts(), 10+11+3+7+2+3+3+10)
}

func TestExampleTextsMergeConditionTextAndExamples(t *testing.T) {
	p := shopPolicy()
	p.Rules[1].Examples = []string{" when do you open ", "store opening hours", "are you open on sunday", "when do you open"}
	p.Rules[1].NegativeExamples = []string{"I can't open the app"}
	p.Scenarios[0].Steps[0].Transitions[1].Examples = []string{"I don't want it any more"}
	texts := domain.ExampleTexts(p)
	require.Len(t, texts, 49-4+2-3+1, "the alternatives and the examples, each once, no negatives")
	require.Contains(t, texts, "when do you open")
	require.NotContains(t, texts, "I can't open the app")
	require.Equal(t, []string{"store opening hours", "when do you open", "are you open on sunday"}, p.Rules[1].MatchCondition().AllExamples())
}

func TestScoreMessageRanksRulesByTheirExamples(t *testing.T) {
	cp := mustCompile(t)
	for _, tc := range []struct {
		message string
		best    string
	}{
		{"can I get my money back", "r_refund"},
		{"what is the refund policy", "r_refund"},
		{"when are the store opening hours", "r_hours"},
		{"do you give legal advice", "r_hard_bare"},
	} {
		rules := cp.ScoreMessage(tc.message, nil).Rules()
		require.NotEmpty(t, rules, tc.message)
		assert.Equal(t, tc.best, rules[0].Rule.ID, tc.message)
		assert.GreaterOrEqual(t, rules[0].Score, domain.DefaultMatcherThreshold, tc.message)
		assert.Equal(t, rules[0].Score, rules[0].Lexical, "without embeddings the score is the lexical one")
		assert.Same(t, cp.Rule(rules[0].Rule.ID), rules[0].Rule)
		assert.Equal(t, rules[0].Rule.ID, cp.Policy.Rules[rules[0].Index].ID)
		for _, r := range rules[1:] {
			assert.LessOrEqual(t, r.Score, rules[0].Score)
		}
	}
	for _, r := range cp.ScoreMessage("do you sell umbrellas", nil).Rules() {
		assert.Less(t, r.Score, domain.DefaultMatcherThreshold, "an unrelated message matches nothing: %s", r.Rule.ID)
	}
}

func TestScoreMessageExplainsTheScore(t *testing.T) {
	cp := mustCompile(t)
	s := cp.ScoreMessage("can I get my money back please", nil)
	i := slices.IndexFunc(cp.Policy.Rules, func(r domain.Rule) bool { return r.ID == "r_refund" })
	ev := s.ExplainRule(i)
	assert.Equal(t, "can I get my money back", ev.Example)
	assert.NotEmpty(t, ev.Terms)
	assert.Equal(t, ruleScores(s)["r_refund"], ev.Score)
	// A rule far down the list is explained too, scored on its own.
	far := slices.IndexFunc(cp.Policy.Rules, func(r domain.Rule) bool { return r.ID == "r_hard_global" })
	assert.InDelta(t, ruleScores(s)["r_hard_global"], s.ExplainRule(far).Score, 1e-9)
	assert.Equal(t, domain.ConditionEvidence{}, s.ExplainRule(-1))
}

func TestRulesWithTheSameExamplesScoreAlike(t *testing.T) {
	p := shopPolicy()
	twin := p.Rules[1]
	twin.ID = "r_hours_twin"
	twin.TemplateIDs = nil
	p.Rules = append(p.Rules, twin)
	require.Empty(t, p.Validate())
	cp, err := domain.CompilePolicy(p)
	require.NoError(t, err)
	got := ruleScores(cp.ScoreMessage("what are the store opening hours", nil))
	assert.Equal(t, got["r_hours"], got["r_hours_twin"])
	assert.GreaterOrEqual(t, got["r_hours"], domain.DefaultMatcherThreshold)
}

func TestEntryScores(t *testing.T) {
	cp := mustCompile(t)
	s := cp.ScoreMessage("I want to return an item", nil)
	assert.GreaterOrEqual(t, s.Entry("returns").Score, domain.DefaultMatcherThreshold)
	assert.Less(t, s.Entry("support").Score, domain.DefaultMatcherThreshold)
	assert.Equal(t, domain.ConditionEvidence{}, s.Entry("nope"))
	assert.NotEmpty(t, s.ExplainEntry("returns").Example)

	s = cp.ScoreMessage("the app has a technical problem", nil)
	assert.GreaterOrEqual(t, s.Entry("support").Score, domain.DefaultMatcherThreshold)
	assert.Less(t, s.Entry("returns").Score, domain.DefaultMatcherThreshold)
}

func TestScoreStepWeighsTransitionsExitAndStaying(t *testing.T) {
	cp := mustCompile(t)
	best := func(s domain.StepScores) string {
		name, score := "stay", s.Stay.Score
		for i, tr := range s.Transitions {
			if tr.Score > score {
				name, score = fmt.Sprint("transition ", i), tr.Score
			}
		}
		if s.Exit != nil && s.Exit.Score > score {
			name = "exit"
		}
		return name
	}
	for _, tc := range []struct{ message, want string }{
		{"the item arrived damaged", "transition 0"},
		{"I changed my mind", "transition 1"},
		{"oh forget it", "exit"},
		{"what are your store opening hours", "stay"},
	} {
		s := cp.ScoreStep("returns", "ask_reason", tc.message, "", nil)
		require.Len(t, s.Transitions, 2)
		require.NotNil(t, s.Exit)
		assert.Equal(t, tc.want, best(s), "%q: %+v", tc.message, s)
	}
	// The exit's evidence shares the transitions' array: appending to
	// them must not write over it.
	s := cp.ScoreStep("returns", "ask_reason", "oh forget it", "", nil)
	exit := *s.Exit
	more := append(s.Transitions, domain.ConditionEvidence{Score: -1, Example: "appended"})
	require.Len(t, more, 3)
	assert.Equal(t, exit, *s.Exit, "appending to the transitions changed the exit")
	s = cp.ScoreStep("support", "triage", "forget it", "", nil)
	assert.Empty(t, s.Transitions, "a step with no transitions and no exit decides nothing")
	assert.Nil(t, s.Exit)
	assert.Equal(t, domain.StepScores{}, cp.ScoreStep("returns", "missing", "anything", "", nil))
}

// The same step scored from many goroutines compiles its matcher once and
// gives every caller the same scores.
func TestScoreStepIsSafeAndTheSameConcurrently(t *testing.T) {
	cp := mustCompile(t)
	var wg sync.WaitGroup
	results := make([]domain.StepScores, 8)
	for i := range results {
		wg.Go(func() { results[i] = cp.ScoreStep("returns", "label", "I got the label", "", nil) })
	}
	wg.Wait()
	for _, r := range results[1:] {
		assert.Equal(t, results[0], r)
	}
	assert.Greater(t, results[0].Transitions[0].Score, results[0].Stay.Score)
}

// A turn scores its message against the rules and then at its step;
// MessageScores.Step reads the message once for both and must score the
// step exactly as ScoreStep does on its own, similarities included.
func TestMessageScoresStepIsScoreStep(t *testing.T) {
	cp := mustCompile(t)
	sims := make([]float64, len(domain.ExampleTexts(cp.Policy)))
	for i := range sims {
		sims[i] = float64(i%7)/7 - 0.3
	}
	for _, msg := range []string{"the item arrived damaged", "I changed my mind", "oh forget it", "yes", "it's 123456",
		"what are your store opening hours", "I don't want to return it anymore, never mind"} {
		for _, context := range []string{"", "Why are you returning the item? Was it damaged?"} {
			for _, similarity := range [][]float64{nil, sims} {
				s := cp.ScoreMessage(msg, similarity)
				for _, step := range [][2]string{{"returns", "ask_reason"}, {"returns", "label"}, {"support", "triage"}, {"returns", "missing"}} {
					want := cp.ScoreStep(step[0], step[1], msg, context, similarity)
					assert.Equal(t, want, s.Step(step[0], step[1], context), "%q at %v with %q", msg, step, context)
				}
			}
		}
	}
}

// A step's scores are made in the message's buffers, which the next
// message reuses once it is released: what Step returned must not change
// with them.
func TestMessageScoresStepOutlivesRelease(t *testing.T) {
	cp := mustCompile(t)
	context := "Why are you returning the item? Was it damaged?"
	s := cp.ScoreMessageUnexplained("the item arrived damaged")
	got := s.Step("returns", "ask_reason", context)
	want := cp.ScoreStep("returns", "ask_reason", "the item arrived damaged", context, nil)
	want.Unexplained, want.ReadContext = got.Unexplained, got.ReadContext
	s.Release()
	for _, msg := range []string{"oh forget it", "I changed my mind", "yes"} {
		other := cp.ScoreMessageUnexplained(msg)
		other.Step("returns", "ask_reason", context)
		other.Step("returns", "label", context)
		other.Release()
	}
	for i := range want.Transitions {
		assert.Equal(t, want.Transitions[i].Score, got.Transitions[i].Score)
	}
	assert.Equal(t, want.Exit.Score, got.Exit.Score)
	assert.Equal(t, want.Stay.Score, got.Stay.Score)
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

// agent-bundle.md: the agent's own fallback is the first fallback template
// no rule or step lists (a rule's fallback speaks for that rule), or, when
// every one is listed, the first.
func TestAgentFallbackIsTheFirstUnlisted(t *testing.T) {
	p := shopPolicy()
	p.Rules[len(p.Rules)-1].TemplateIDs = append(p.Rules[len(p.Rules)-1].TemplateIDs, "t_fb1")
	cp, err := domain.CompilePolicy(p)
	require.NoError(t, err)
	require.Equal(t, "t_fb2", cp.FallbackTemplate(), "t_fb1 is a rule's")

	p.Scenarios[0].Steps[0].TemplateIDs = append(p.Scenarios[0].Steps[0].TemplateIDs, "t_fb2")
	cp, err = domain.CompilePolicy(p)
	require.NoError(t, err)
	require.Equal(t, "t_fb1", cp.FallbackTemplate(), "every fallback is listed: the first")
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

// A transition with only a when has nothing for the matcher to learn: it
// scores nothing, beside transitions that do, and lint says nothing of it.
func TestATransitionWithOnlyAWhenScoresNothing(t *testing.T) {
	p := shopPolicy()
	label := &p.Scenarios[0].Steps[1]
	label.Transitions = append(label.Transitions, domain.Transition{To: "done", When: "vars.order_id != nil"})
	support := &p.Scenarios[1]
	support.Steps = []domain.Step{{ID: "triage", Transitions: []domain.Transition{{To: "fixed", When: "vars.fixed == true"}}},
		{ID: "fixed", Terminal: true}}
	require.Empty(t, p.Validate())
	cp, err := domain.CompilePolicy(p)
	require.NoError(t, err)

	s := cp.ScoreStep("returns", "label", "I got the label", "", nil)
	require.Len(t, s.Transitions, 2)
	assert.Greater(t, s.Transitions[0].Score, s.Stay.Score)
	assert.Equal(t, domain.ConditionEvidence{}, s.Transitions[1])

	s = cp.ScoreStep("support", "triage", "I got the label", "", nil)
	assert.Equal(t, []domain.ConditionEvidence{{}}, s.Transitions)
	for _, w := range domain.LintPolicy(p) {
		assert.NotContains(t, w.Field, "transitions", "%+v", w)
	}
}

func TestRulesComeBestFirstThenInDeclarationOrder(t *testing.T) {
	cp := mustCompile(t)
	for _, msg := range []string{"can I get my money back please", "where is my order", "hello", "do you give legal advice"} {
		s := cp.ScoreMessage(msg, nil)
		rules := s.Rules()
		assert.Len(t, rules, s.NumRules(), msg)
		want := slices.Clone(rules)
		slices.SortStableFunc(want, func(a, b domain.ScoredRule) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Index, b.Index))
		})
		assert.Equal(t, want, rules, msg)
		var each []domain.ScoredRule
		for r := range s.EachRule {
			each = append(each, r)
		}
		assert.Equal(t, rules, each, msg)
	}
}

// A turn releases its message's scores when done with them, and the next
// message is read into the same arrays: what the first scores gave out
// (rules, evidence, terms, examples, step scores) must not change, and the
// next message must score as it would on arrays of its own.
func TestReleasedScoresLeaveWhatTheyGaveIntact(t *testing.T) {
	cp := mustCompile(t)
	type given struct {
		rules     []domain.ScoredRule
		explained []domain.ConditionEvidence
		step      domain.StepScores
	}
	read := func(msg string, release bool) given {
		s := cp.ScoreMessage(msg, nil)
		g := given{rules: s.Rules(), step: s.Step("returns", "ask_reason", "Why are you returning the item?")}
		for _, r := range g.rules {
			g.explained = append(g.explained, s.ExplainRule(r.Index))
		}
		if release {
			s.Release()
			s.Release() // a second Release does nothing
		}
		return g
	}
	messages := []string{"the item arrived damaged", "what are your store opening hours",
		"I don't want to return it anymore, never mind", "yes"}
	want := make([]given, len(messages))
	for i, msg := range messages {
		want[i] = read(msg, false)
	}
	for round := range 3 {
		var kept []given
		for _, msg := range messages {
			kept = append(kept, read(msg, true))
		}
		for i, msg := range messages {
			assert.Equal(t, want[i], kept[i], "round %d, %q after the others reused its arrays", round, msg)
		}
	}
}
