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

func TestRetrievalThreshold(t *testing.T) {
	// "refund" covers half of "refund policy" (both terms equally rare).
	for _, tc := range []struct {
		name      string
		threshold float64
		matched   []string
	}{
		{"below the threshold nothing matches, no closest-rule fallback", 0.6, []string{}},
		{"at or over the threshold the rule matches", 0.4, []string{"refunds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy(globalRule("refunds", "refund policy", "Explain the 30-day refund policy."),
				globalRule("hours", "opening hours", "Give the opening hours."))
			p.Agent.Settings.MatchThreshold = tc.threshold
			h := newHarness(t, p, newFakeModel(say("Sure.")))
			r := h.run("refund please")

			c, ok := candidate(r.exp(), "refunds")
			require.True(t, ok, "the rule sharing a word is a candidate")
			assert.InDelta(t, 0.5, c.Score, 0.01)
			assert.Equal(t, tc.matched, matchedIDs(r.exp()))
			_, scored := candidate(r.exp(), "hours")
			assert.False(t, scored, "a rule sharing no word is not even a candidate")
			prompt := systemMessage(h.model.request(0))
			assert.Equal(t, len(tc.matched) > 0, strings.Contains(prompt, "30-day refund policy"))
		})
	}
}

func TestRetrievalTopKKeepsBestScoresAndPromptFollowsPriority(t *testing.T) {
	low := globalRule("exact", "shipping delay", "ACTION-EXACT")
	low.Priority = 0
	mid := globalRule("broad", "shipping", "ACTION-BROAD")
	mid.Priority = 10
	urgent := globalRule("voucher", "delay voucher", "ACTION-VOUCHER")
	urgent.Priority = 90
	p := testPolicy(low, mid, urgent)
	p.Agent.Settings.TopK = 2
	p.Agent.Settings.MatchThreshold = 0.2
	h := newHarness(t, p, newFakeModel(say("Sorry about that.")))
	r := h.run("my shipping delay")

	v, ok := candidate(r.exp(), "voucher")
	require.True(t, ok)
	require.GreaterOrEqual(t, v.Score, 0.2, "precondition: the third rule clears the threshold")
	require.Less(t, v.Score, 1.0)
	assert.Equal(t, []string{"broad", "exact"}, matchedIDs(r.exp()),
		"top_k keeps the two best scores, whatever the third's priority; the prompt lists them by priority")
	prompt := systemMessage(h.model.request(0))
	assert.NotContains(t, prompt, "ACTION-VOUCHER")
	assert.Less(t, strings.Index(prompt, "ACTION-BROAD"), strings.Index(prompt, "ACTION-EXACT"))
}

func TestRetrievalCooldownAndMaxFires(t *testing.T) {
	cool := globalRule("cool", "warranty", "Mention the warranty.")
	cool.CooldownTurns = 1
	once := globalRule("once", "warranty", "Offer the extended warranty.")
	once.MaxFiresPerSession = 1
	h := newHarness(t, testPolicy(cool, once), newFakeModel(say("Noted.")))

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

	r2 := h.run("warranty again")
	assert.Empty(t, matchedIDs(r2.exp()))
	assert.Equal(t, map[string]string{"cool": "cooldown", "once": "max_fires_reached"}, filtered(r2))

	r3 := h.run("warranty once more")
	assert.Equal(t, []string{"cool"}, matchedIDs(r3.exp()), "the cooldown is over, the fire budget is not")
	assert.Equal(t, map[string]string{"once": "max_fires_reached"}, filtered(r3))
	assert.Equal(t, domain.RuleFire{Count: 2, LastTurn: 3}, r3.Session.RuleFires["cool"])
}

func TestRetrievalDisabledRuleNeverMatches(t *testing.T) {
	off := globalRule("off", "gift card", "Sell gift cards.")
	off.Enabled = false
	h := newHarness(t, testPolicy(off), newFakeModel(say("Hi.")))
	r := h.run("gift card")
	assert.Empty(t, matchedIDs(r.exp()))
	assert.Equal(t, []domain.FilteredRule{{RuleID: "off", Reason: "disabled"}}, r.exp().Filtered)
	assert.NotContains(t, systemMessage(h.model.request(0)), "Sell gift cards")
}

// scopedPolicy has a global rule, a scenario rule and a rule for each of
// the scenario's two steps, all with the condition "label".
func scopedPolicy() *domain.Policy {
	rule := func(id string, scope domain.RuleScope, scopeID string) domain.Rule {
		r := globalRule(id, "label", "ACTION-"+id)
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
		ID: "returns", EntryCondition: "return item", ExitCondition: "cancel return", EntryStepID: "ask", Enabled: true,
		Steps: []domain.Step{
			{ID: "ask", Transitions: []domain.Transition{{To: "label", Condition: "receipt number"}}},
			{ID: "label"},
		},
	}}
	return p
}

func TestRetrievalScopeFollowsScenario(t *testing.T) {
	h := newHarness(t, scopedPolicy(), newFakeModel(say("Okay.")))
	steps := []struct {
		msg     string
		action  string
		matched []string
	}{
		{"label", domain.ScenarioNone, []string{"g"}},
		// A scenario started this turn brings its scenario and entry-step rules at once.
		{"return item label", domain.ScenarioStart, []string{"g", "sc", "ask"}},
		// Advancing, the step left and the step entered both answer the message.
		{"receipt number label", domain.ScenarioAdvance, []string{"g", "sc", "ask", "lab"}},
		// The exited scenario's rules still answer the message that left it.
		{"cancel return label", domain.ScenarioExit, []string{"g", "sc", "lab"}},
		{"label", domain.ScenarioNone, []string{"g"}},
	}
	for i, s := range steps {
		r := h.run(s.msg)
		assert.Equal(t, s.action, r.exp().Scenario.Action, "turn %d", i+1)
		assert.ElementsMatch(t, s.matched, matchedIDs(r.exp()), "turn %d", i+1)
		var cands []string
		for _, c := range r.exp().Candidates {
			cands = append(cands, c.RuleID)
		}
		assert.ElementsMatch(t, s.matched, cands, "turn %d: out-of-scope rules are not candidates", i+1)
	}
}

// semanticPolicy has a rule that no message below shares a word with.
func semanticPolicy(version int64) *domain.Policy {
	p := testPolicy(globalRule("human", "speak to a human agent", "ACTION-HANDOFF"),
		globalRule("hours", "opening hours", "ACTION-HOURS"))
	p.Agent.Version = version
	return p
}

func semanticEmbedder() *fakeEmbedder {
	return newFakeEmbedder(3).
		set("speak to a human agent", 1, 0, 0).
		set("opening hours", 0, 1, 0).
		set("I am fed up with bots", 0.9, 0.1, 0).
		set("no more robots please", 1, 0, 0.1)
}

func TestHybridRetrievalMatchesOnMeaning(t *testing.T) {
	emb := semanticEmbedder()
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("Connecting you.")), withEmbedder(emb))
	r := h.run("I am fed up with bots")

	assert.Equal(t, domain.RetrievalHybrid, r.exp().Retrieval.Mode)
	assert.InDelta(t, domain.DefaultSemanticWeight, r.exp().Retrieval.SemanticWeight, 1e-9)
	assert.Equal(t, []string{"human"}, matchedIDs(r.exp()))
	c, _ := candidate(r.exp(), "human")
	assert.Zero(t, c.Lexical)
	assert.Greater(t, c.Semantic, 0.9)
	assert.Contains(t, systemMessage(h.model.request(0)), "ACTION-HANDOFF")
}

func TestHybridRetrievalEmbedsMessageOncePolicyOncePerVersion(t *testing.T) {
	emb := semanticEmbedder()
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("Sure.")), withEmbedder(emb))
	msgs := []string{"I am fed up with bots", "no more robots please", "opening hours?"}
	for _, m := range msgs {
		h.run(m)
		assert.Equal(t, 1, emb.embedded(m), "message %q embedded once in its turn", m)
	}
	assert.Equal(t, 1, emb.embedded("speak to a human agent"), "conditions embedded once for version 1")
	assert.Equal(t, 1, emb.embedded("opening hours"))

	h.policy = semanticPolicy(2)
	h.run("hello again")
	h.run("still here")
	assert.Equal(t, 2, emb.embedded("speak to a human agent"), "a new version is embedded again, once")
}

func TestHybridRetrievalDegradesToLexicalWhenEmbedderFails(t *testing.T) {
	emb := semanticEmbedder()
	emb.err = domain.Errorf(domain.CodeLLMUnavailable, "embedding service down")
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("We open at nine.")), withEmbedder(emb))
	r := h.run("what are your opening hours")

	assert.Equal(t, domain.RetrievalLexical, r.exp().Retrieval.Mode)
	assert.Contains(t, r.exp().Retrieval.Note, "lexical")
	assert.Contains(t, r.exp().Retrieval.Note, "LLM_UNAVAILABLE")
	assert.Equal(t, []string{"hours"}, matchedIDs(r.exp()))
	assert.Equal(t, "We open at nine.", r.Response)
}
