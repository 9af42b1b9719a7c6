package alignment

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

func candidate(e domain.Explanation, id string) (domain.RuleCandidate, bool) {
	for _, c := range e.Candidates {
		if c.RuleID == id {
			return c, true
		}
	}
	return domain.RuleCandidate{}, false
}

// shopRules are three rules with examples, for tests about selection.
func shopRules() []domain.Rule {
	return []domain.Rule{
		globalRule("refunds", "refund policy", "Explain the 30-day refund policy.",
			"what is your refund policy", "can I get my money back", "how do refunds work", "I want a refund"),
		globalRule("hours", "opening hours", "Give the opening hours.",
			"when do you open", "what are your opening hours", "are you open on sunday", "what time do you close"),
		globalRule("shipping", "shipping times", "Explain shipping times.",
			"how long does delivery take", "when will my parcel arrive", "do you ship abroad", "how much is shipping"),
	}
}

func TestRetrievalThreshold(t *testing.T) {
	// One score, read off a first run: the matcher does not depend on the
	// threshold, so each run below scores the message the same.
	probe := newHarness(t, testPolicy(shopRules()...), newFakeModel(say("Sure.")))
	c, ok := candidate(probe.run("refund please").exp(), "refunds")
	require.True(t, ok)
	score := c.Score
	require.Greater(t, score, 0.02)
	require.Less(t, score, 0.98)

	for _, tc := range []struct {
		name      string
		threshold float64
		matched   []string
	}{
		{"below the threshold nothing matches, no closest-rule fallback", score + 0.01, []string{}},
		{"at or over the threshold the rule matches", score - 0.01, []string{"refunds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy(shopRules()...)
			p.Agent.Settings.MatchThreshold = tc.threshold
			h := newHarness(t, p, newFakeModel(say("Sure.")))
			r := h.run("refund please")

			c, ok := candidate(r.exp(), "refunds")
			require.True(t, ok, "the rule the message fits is a candidate")
			assert.Equal(t, score, c.Score)
			assert.Equal(t, tc.matched, matchedIDs(r.exp()))
			for _, other := range []string{"hours", "shipping"} {
				o, _ := candidate(r.exp(), other)
				assert.Less(t, o.Score, c.Score, "%s fits the message less", other)
			}
			prompt := systemMessage(h.model.request(0))
			assert.Equal(t, len(tc.matched) > 0, strings.Contains(prompt, "30-day refund policy"))
		})
	}
}

func TestRetrievalTopKKeepsBestScoresAndPromptFollowsPriority(t *testing.T) {
	late := []string{"my parcel is late", "the delivery is delayed", "shipping is taking too long", "my order has not arrived yet"}
	low := globalRule("exact", "shipping delay", "ACTION-EXACT", late...)
	low.Priority = 0
	mid := globalRule("broad", "shipping delay", "ACTION-BROAD", late...)
	mid.Priority = 10
	urgent := globalRule("voucher", "delay voucher", "ACTION-VOUCHER", "can I get a voucher for the delay", "I want compensation for the late delivery")
	urgent.Priority = 90
	p := testPolicy(low, mid, urgent, shopRules()[1])
	p.Agent.Settings.TopK = 2
	p.Agent.Settings.MatchThreshold = 0.01
	h := newHarness(t, p, newFakeModel(say("Sorry about that.")))
	r := h.run("my parcel is so late")

	v, ok := candidate(r.exp(), "voucher")
	require.True(t, ok)
	e, _ := candidate(r.exp(), "exact")
	require.GreaterOrEqual(t, v.Score, 0.01, "precondition: the third rule clears the threshold")
	require.Less(t, v.Score, e.Score)
	assert.Equal(t, []string{"broad", "exact"}, matchedIDs(r.exp()),
		"top_k keeps the two best scores, whatever the third's priority; the prompt lists them by priority")
	prompt := systemMessage(h.model.request(0))
	assert.NotContains(t, prompt, "ACTION-VOUCHER")
	assert.Less(t, strings.Index(prompt, "ACTION-BROAD"), strings.Index(prompt, "ACTION-EXACT"))
}

func TestRetrievalCooldownAndMaxFires(t *testing.T) {
	warranty := []string{"warranty", "how long is the warranty", "is it still under warranty"}
	cool := globalRule("cool", "warranty", "Mention the warranty.", warranty...)
	cool.CooldownTurns = 1
	once := globalRule("once", "warranty", "Offer the extended warranty.", warranty...)
	once.MaxFiresPerSession = 1
	h := newHarness(t, testPolicy(cool, once, shopRules()[1]), newFakeModel(say("Noted.")))

	filtered := func(r turnResult) map[string]string {
		out := map[string]string{}
		for _, f := range r.exp().Filtered {
			out[f.RuleID] = f.Reason
		}
		return out
	}
	r1 := h.run("warranty?")
	assert.ElementsMatch(t, []string{"cool", "once"}, matchedIDs(r1.exp()))
	assert.Empty(t, filtered(r1))

	r2 := h.run("what about the warranty again")
	assert.Empty(t, matchedIDs(r2.exp()))
	assert.Equal(t, map[string]string{"cool": "cooldown", "once": "max_fires_reached"}, filtered(r2))

	r3 := h.run("warranty, once more")
	assert.Equal(t, []string{"cool"}, matchedIDs(r3.exp()), "the cooldown is over, the fire budget is not")
	assert.Equal(t, map[string]string{"once": "max_fires_reached"}, filtered(r3))
	assert.Equal(t, domain.RuleFire{Count: 2, LastTurn: 3}, r3.Session.RuleFires.Get("cool"))
}

func TestRetrievalDisabledRuleNeverMatches(t *testing.T) {
	off := globalRule("off", "gift card", "Sell gift cards.", "do you sell gift cards", "I want to buy a gift card")
	off.Enabled = false
	h := newHarness(t, testPolicy(off, shopRules()[1]), newFakeModel(say("Hi.")))
	r := h.run("gift card")
	assert.Empty(t, matchedIDs(r.exp()))
	assert.Equal(t, []domain.FilteredRule{{RuleID: "off", Reason: "disabled"}}, r.exp().Filtered)
	assert.NotContains(t, systemMessage(h.model.request(0)), "Sell gift cards")
}

// scopedPolicy has a global rule, a scenario rule and a rule for each of
// the scenario's two steps, all with one condition about the label, and a
// match threshold so low that every rule in scope matches every message
// that mentions the label: the rules matched show which were in scope.
func scopedPolicy() *domain.Policy {
	rule := func(id string, scope domain.RuleScope, scopeID string) domain.Rule {
		r := globalRule(id, "label", "ACTION-"+id, "where do I print the label", "the label")
		r.Scope, r.ScopeID = scope, scopeID
		return r
	}
	p := testPolicy(
		rule("g", domain.ScopeGlobal, ""),
		rule("sc", domain.ScopeScenario, "returns"),
		rule("ask", domain.ScopeStep, "returns/ask"),
		rule("lab", domain.ScopeStep, "returns/label"),
	)
	p.Scenarios = []domain.Scenario{{
		ID: "returns", EntryCondition: "return item", EntryExamples: []string{"I want to return an item", "can I send this back"},
		ExitCondition: "cancel return", ExitExamples: []string{"cancel the return", "I'll keep it after all"},
		EntryStepID: "ask", Enabled: true,
		Steps: []domain.Step{
			{ID: "ask", Transitions: []domain.Transition{{To: "label", Condition: "receipt number",
				Examples: []string{"my receipt number is 4411", "here is the receipt number"}}}},
			{ID: "label"},
		},
	}}
	p.Agent.Settings.MatchThreshold = 0.01
	p.Agent.Settings.ScenarioEntryThreshold = 0.3
	p.Agent.Settings.TransitionThreshold = 0.3
	p.Agent.Settings.TopK = 10
	return p
}

func TestRetrievalScopeFollowsScenario(t *testing.T) {
	h := newHarness(t, scopedPolicy(), newFakeModel(say("Okay.")))
	steps := []struct {
		msg     string
		action  string
		matched []string
	}{
		{"where do I print the label", domain.ScenarioNone, []string{"g"}},
		// A scenario started this turn brings its scenario and entry-step rules at once.
		{"I want to return an item, and print the label", domain.ScenarioStart, []string{"g", "sc", "ask"}},
		// Advancing, the step left and the step entered both answer the message.
		{"my receipt number is 5521, for the label", domain.ScenarioAdvance, []string{"g", "sc", "ask", "lab"}},
		// The exited scenario's rules still answer the message that left it.
		{"cancel the return, forget the label", domain.ScenarioExit, []string{"g", "sc", "lab"}},
		{"where do I print the label", domain.ScenarioNone, []string{"g"}},
	}
	for i, s := range steps {
		r := h.run(s.msg)
		assert.Equal(t, s.action, r.exp().Scenario.Action, "turn %d: %s", i+1, r.exp().Scenario.Reason)
		assert.ElementsMatch(t, s.matched, matchedIDs(r.exp()), "turn %d", i+1)
		var cands []string
		for _, c := range r.exp().Candidates {
			cands = append(cands, c.RuleID)
		}
		assert.ElementsMatch(t, s.matched, cands, "turn %d: out-of-scope rules are not candidates", i+1)
	}
}
