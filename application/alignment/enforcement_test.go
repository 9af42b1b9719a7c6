package alignment

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// breaks reports whether text breaks c (judges are not checked here).
func breaks(t *testing.T, c domain.Constraint, text string, vars map[string]any) bool {
	t.Helper()
	switch c.Kind {
	case domain.ConstraintExpression:
		return evalExpression(c.Value, text, vars) != ""
	case domain.ConstraintJudge:
		return false
	}
	cc, err := domain.PrepareConstraint("check", c)
	require.NoError(t, err)
	return cc.CheckLexical(text) != ""
}

// assertSinkClean checks that no delta and not the whole released text
// break c.
func assertSinkClean(t *testing.T, r turnResult, c domain.Constraint, vars map[string]any) {
	t.Helper()
	if c.Kind == domain.ConstraintForbidPhrase || c.Kind == domain.ConstraintForbidPattern {
		for _, d := range r.deltas {
			assert.False(t, breaks(t, c, d, vars), "delta %q breaks %s", d, c.Value)
		}
	}
	assert.False(t, breaks(t, c, strings.Join(r.deltas, ""), vars), "released text %q breaks %s", r.deltas, c.Value)
	assert.False(t, breaks(t, c, r.Response, vars), "reply %q breaks %s", r.Response, c.Value)
}

var constraintCases = []struct {
	name      string
	c         domain.Constraint
	vars      map[string]any
	bad, good string
}{
	{"forbid_phrase", forbid("guaranteed refund"), nil,
		"You get a Guaranteed\n  refund today.", "We will review your case today."},
	{"forbid_pattern", domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `\b\d{4}-\d{4}\b`}, nil,
		"Your code is 1234-5678.", "Your code is in the email."},
	{"require_phrase", domain.Constraint{Kind: domain.ConstraintRequirePhrase, Value: "have a nice day"}, nil,
		"Bye.", "Bye, have a nice day!"},
	{"expression on amounts", domain.Constraint{Kind: domain.ConstraintExpression, Value: "reply.max_amount <= 100"}, nil,
		"We can refund $250 today.", "We can refund $80 today."},
	{"expression on length", domain.Constraint{Kind: domain.ConstraintExpression, Value: "reply.length < 50"}, nil,
		"This reply is much too long to be acceptable under the rule.", "Short reply."},
	{"expression on session variables", domain.Constraint{Kind: domain.ConstraintExpression, Value: "reply.max_amount <= vars.limit"},
		map[string]any{"limit": 100}, "Your credit is 150 dollars.", "Your credit is 90 dollars."},
}

func TestEnforcementRegeneratesWithViolationNamed(t *testing.T) {
	for _, tc := range constraintCases {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeModel(say(tc.bad), say(tc.good))
			h := newHarness(t, testPolicy(hardRule("policy", "unrelated condition", tc.c)), m)
			h.session.Variables = tc.vars
			r := h.run("hello")

			assert.Equal(t, tc.good, r.Response)
			assertSinkClean(t, r, tc.c, tc.vars)
			assert.Equal(t, 2, m.calls())
			e := r.exp().Enforcement
			assert.Equal(t, []string{"policy"}, e.Rules, "global hard rules are enforced without matching")
			require.Len(t, e.Violations, 1)
			assert.Equal(t, domain.Violation{RuleID: "policy", Kind: tc.c.Kind, Value: tc.c.Value, Stage: domain.StageReply, Attempt: 0,
				Detail: e.Violations[0].Detail}, e.Violations[0])
			assert.Equal(t, 1, e.Regenerations)
			assert.False(t, e.Fallback)

			retry := m.request(1).Messages
			last := retry[len(retry)-1]
			assert.Contains(t, last.Content, string(tc.c.Kind))
			assert.Contains(t, last.Content, strconv.Quote(tc.c.Value), "the violated constraint is named")
			assert.Len(t, retry, len(m.request(0).Messages)+1, "the retry is the first request plus the named violation")
		})
	}
}

func TestEnforcementFallbackThenRefusal(t *testing.T) {
	c := forbid("guaranteed refund")
	for _, tc := range []struct {
		name       string
		regens     *int
		fallback   string
		want       string
		calls      int
		fellBack   bool
		refused    bool
		violations int
	}{
		{"fallback after max_regenerations", nil, "Let me check with a colleague.",
			"Let me check with a colleague.", 2, true, false, 2},
		{"no regeneration allowed", intp(0), "Let me check with a colleague.",
			"Let me check with a colleague.", 1, true, false, 1},
		{"two regenerations", intp(2), "Let me check with a colleague.",
			"Let me check with a colleague.", 3, true, false, 3},
		{"fallback also violates: refusal", nil, "It is a guaranteed refund.",
			domain.DefaultRefusal, 2, false, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy(hardRule("policy", "unrelated condition", c))
			p.Agent.Settings.MaxRegenerations = tc.regens
			p.Templates = []domain.Template{tpl("fb", domain.ModeFallback, tc.fallback)}
			m := newFakeModel(say("Sure, a guaranteed refund."))
			h := newHarness(t, p, m)
			r := h.run("refund?")

			assert.Equal(t, tc.want, r.Response)
			assertSinkClean(t, r, c, nil)
			assert.Equal(t, tc.calls, m.calls())
			e := r.exp().Enforcement
			assert.Equal(t, tc.fellBack, e.Fallback)
			assert.Equal(t, tc.refused, e.Refused)
			require.Len(t, e.Violations, tc.violations)
			assert.Equal(t, tc.calls-1, e.Regenerations)
			for i, v := range e.Violations[:tc.calls] {
				assert.Equal(t, domain.StageReply, v.Stage)
				assert.Equal(t, i, v.Attempt, "generated replies are numbered from 0")
			}
			if tc.refused {
				assert.Equal(t, domain.StageFallback, e.Violations[tc.calls].Stage, "the fallback template broke it too")
				assert.Equal(t, 0, e.Violations[tc.calls].Attempt)
			}
		})
	}
}

func TestEnforcementNeverReleasesEvenTheRefusalWhenItBreaksARule(t *testing.T) {
	c := domain.Constraint{Kind: domain.ConstraintRequirePhrase, Value: "ticket number"}
	m := newFakeModel(say("Hello."))
	h := newHarness(t, testPolicy(hardRule("policy", "unrelated condition", c)), m)
	r := h.run("hi")
	assert.Empty(t, r.Response)
	assert.Empty(t, r.deltas)
	assert.True(t, r.exp().Enforcement.Refused)
	v := r.exp().Enforcement.Violations
	require.NotEmpty(t, v)
	assert.Equal(t, domain.StageRefusal, v[len(v)-1].Stage, "the refusal's own violation is recorded as the refusal's")
}

func TestEnforcementMatchedHardRuleOnlyWhenMatched(t *testing.T) {
	scoped := hardRule("promo", "discount code", forbid("free shipping"))
	scoped.Scope, scoped.ScopeID = domain.ScopeScenario, "sales"
	p := testPolicy(scoped)
	p.Scenarios = []domain.Scenario{{ID: "sales", EntryCondition: "buy something", EntryStepID: "s", Enabled: true,
		Steps: []domain.Step{{ID: "s"}}}}
	m := newFakeModel(say("Enjoy free shipping!"))
	h := newHarness(t, p, m)
	r := h.run("hello")
	assert.Equal(t, "Enjoy free shipping!", r.Response, "a scoped hard rule that did not match is not enforced")
	assert.Equal(t, []string{}, r.exp().Enforcement.Rules)
}

func TestJudgeConstraint(t *testing.T) {
	c := domain.Constraint{Kind: domain.ConstraintJudge, Value: "The reply must not promise delivery dates."}
	for _, tc := range []struct {
		name     string
		verdicts []scripted
		want     string
		calls    int
		detail   string
	}{
		{"compliant passes", []scripted{say(`{"compliant": true, "reason": "fine"}`)}, "First reply.", 2, ""},
		{"non-compliant is a violation", []scripted{say("```json\n{\"compliant\": false, \"reason\": \"promises Monday\"}\n```"),
			say(`{"compliant": true}`)}, "Second reply.", 4, "judge: promises Monday"},
		// Failing closed ends in the refusal, which is not put to the judge
		// (its model may be the one that is down).
		{"model error fails closed", []scripted{fail(domain.Errorf(domain.CodeLLMError, "judge down"))},
			domain.DefaultRefusal, 4, "failing closed: LLM_ERROR"},
		{"unparseable answer fails closed", []scripted{say("looks fine to me")}, domain.DefaultRefusal, 4, "failing closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeModel(say("First reply."), say("Second reply.")).answerJSON(tc.verdicts...)
			h := newHarness(t, testPolicy(hardRule("dates", "unrelated condition", c)), m)
			r := h.run("when will it arrive")

			assert.Equal(t, tc.want, r.Response)
			assert.Equal(t, tc.want, strings.Join(r.deltas, ""))
			assert.Equal(t, tc.calls, m.calls())
			judged := m.request(1)
			require.True(t, judged.JSON)
			assert.Contains(t, judged.Messages[1].Content, c.Value)
			assert.Contains(t, judged.Messages[1].Content, "First reply.")
			if tc.detail != "" {
				require.NotEmpty(t, r.exp().Enforcement.Violations)
				assert.Contains(t, r.exp().Enforcement.Violations[0].Detail, tc.detail)
			} else {
				assert.Empty(t, r.exp().Enforcement.Violations)
			}
		})
	}
}
