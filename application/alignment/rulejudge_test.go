package alignment

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// judgedPolicy has four rules: one that "return my order" fits best, two
// it fits in part and one it does not fit.
func judgedPolicy(judge bool) *domain.Policy {
	ret := globalRule("ret", "return an order", "ACTION-RET", "I want to return my order", "how do I send my order back", "return my parcel")
	ret.Priority = 5
	p := testPolicy(
		ret,
		globalRule("order", "order status", "ACTION-ORDER", "where is my order", "has my order shipped", "track my order"),
		globalRule("my-return", "return policy", "ACTION-MYRETURN", "what is your return policy", "how many days do I have to return"),
		globalRule("gift", "gift card", "ACTION-GIFT", "do you sell gift cards", "can I pay with a gift card"),
	)
	p.Agent.Settings.RuleJudge = judge
	p.Agent.Settings.TopK = 3
	return p
}

func TestRuleJudgeOneCallDecidesApplicableRules(t *testing.T) {
	m := newFakeModel(say("Here is how returns work.")).
		answerJSON(say(`{"applicable": ["ret", "gift", "nonexistent"]}`))
	h := newHarness(t, judgedPolicy(true), m)
	h.commit("hi, I bought shoes last week", "Hello! How can I help?", h.session)
	r := h.run("return my order")

	require.Equal(t, 2, m.calls(), "one judge call for all candidates, one generation")
	judgeReq := m.request(0)
	require.True(t, judgeReq.JSON)
	all := judgeReq.Messages[len(judgeReq.Messages)-1].Content
	best := r.exp().Candidates[:3]
	for _, c := range best {
		assert.Contains(t, all, `"`+c.RuleID+`"`, "the single judge call lists the top_k candidates, whatever their scores")
	}
	assert.Equal(t, "gift", r.exp().Candidates[3].RuleID, "the message fits the gift card rule least")
	assert.NotContains(t, all, `"gift"`, "a candidate below the top_k is not asked about")
	assert.Contains(t, all, "Customer: hi, I bought shoes last week\nAgent: Hello! How can I help?", "the judge sees the conversation")
	assert.Less(t, strings.Index(all, "Hello! How can I help?"), strings.Index(all, "return my order"))

	j := r.exp().Retrieval.Judge
	require.NotNil(t, j)
	assert.True(t, j.Used)
	assert.ElementsMatch(t, []string{"ret", "order", "my-return"}, j.Asked)
	assert.Equal(t, []string{"ret"}, j.Applicable, "ids the judge was not asked about are ignored")
	assert.Equal(t, []string{"ret"}, matchedIDs(r.exp()))
	assert.Contains(t, r.exp().Matched[0].Reason, "rule judge")
	assert.Equal(t, 2, r.exp().Generation.ModelCalls)

	prompt := systemMessage(m.genRequests()[0])
	assert.Contains(t, prompt, "ACTION-RET")
	assert.NotContains(t, prompt, "ACTION-ORDER", "the judge's no outranks the rule's score")
	assert.NotContains(t, prompt, "ACTION-GIFT")
}

// The judge can find a rule the scores did not match: it sees the best
// candidates whatever they scored.
func TestRuleJudgeMayMatchACandidateBelowTheThreshold(t *testing.T) {
	m := newFakeModel(say("Your order is on its way.")).answerJSON(say(`{"applicable": ["order"]}`))
	h := newHarness(t, judgedPolicy(true), m)
	r := h.run("return my order")
	c, ok := candidate(r.exp(), "order")
	require.True(t, ok)
	require.Less(t, c.Score, domain.DefaultMatchThreshold, "precondition: the scores alone would not match it")
	assert.Equal(t, []string{"order"}, matchedIDs(r.exp()))
}

func TestRuleJudgeEmptyAnswerMatchesNothing(t *testing.T) {
	m := newFakeModel(say("Hello.")).answerJSON(say(`{"applicable": []}`))
	h := newHarness(t, judgedPolicy(true), m)
	h.commit("earlier message", "earlier reply", h.session)
	r := h.run("return my order")
	assert.True(t, r.exp().Retrieval.Judge.Used)
	assert.Empty(t, matchedIDs(r.exp()))
	gen := m.genRequests()
	require.Len(t, gen, 1)
	assert.Equal(t, "earlier reply", gen[0].Messages[2].Content, "history loaded alongside the judge call")
}

func TestRuleJudgeFallsBackToScores(t *testing.T) {
	// What scores alone decide, without a judge.
	plain := newHarness(t, judgedPolicy(false), newFakeModel(say("Hello.")))
	want := matchedIDs(plain.run("return my order").exp())
	require.NotEmpty(t, want)

	for _, tc := range []struct {
		name   string
		answer scripted
		reason string
	}{
		{"unparseable answer", say("I think ret and order apply."), "not the expected JSON"},
		{"answer of the wrong shape", say(`{"applicable": "ret"}`), "not the expected JSON"},
		{"model error", fail(domain.Errorf(domain.CodeLLMError, "boom")), "LLM_ERROR"},
		{"model unavailable", fail(domain.Errorf(domain.CodeLLMUnavailable, "breaker open")), "LLM_UNAVAILABLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // deterministic: the same answer every time
				m := newFakeModel(say("Hello.")).answerJSON(tc.answer)
				h := newHarness(t, judgedPolicy(true), m)
				r := h.run("return my order")

				j := r.exp().Retrieval.Judge
				require.NotNil(t, j)
				assert.False(t, j.Used)
				assert.Contains(t, j.Reason, tc.reason)
				assert.Equal(t, want, matchedIDs(r.exp()), "scores decide")
				assert.Equal(t, "Hello.", r.Response, "the turn still answers")
				assert.Equal(t, 2, m.calls())
			}
		})
	}
}

func TestRuleJudgeSkippedWithoutCandidates(t *testing.T) {
	p := judgedPolicy(true)
	for i := range p.Rules {
		p.Rules[i].Enabled = false
	}
	m := newFakeModel(say("Hello."))
	h := newHarness(t, p, m)
	r := h.run("return my order")
	assert.Equal(t, 1, m.calls(), "no candidates, no judge call")
	assert.Nil(t, r.exp().Retrieval.Judge)
	assert.Len(t, r.exp().Filtered, 4)
}

func TestRuleJudgeCountsItsCallWithExclusiveTemplate(t *testing.T) {
	p := judgedPolicy(true)
	p.Templates = []domain.Template{tpl("ret-answer", domain.ModeExclusive, "Returns are free within 30 days.")}
	p.Rules[0].TemplateIDs = []string{"ret-answer"}
	m := newFakeModel(say("unused")).answerJSON(say(`{"applicable": ["ret"]}`))
	h := newHarness(t, p, m)
	r := h.run("return my order")

	assert.Equal(t, "Returns are free within 30 days.", r.Response)
	assert.Equal(t, 1, m.calls(), "only the judge called the model")
	assert.Equal(t, domain.SourceTemplate, r.exp().Generation.Source)
	assert.Equal(t, 1, r.exp().Generation.ModelCalls, "the judge's call is counted")
	assert.False(t, strings.Contains(r.Response, "unused"))
}

// Models add fields like "reason"; the answer is still used, and the
// candidates the judge turned down keep their scores in the record.
func TestRuleJudgeToleratesExtraFieldsAndKeepsScores(t *testing.T) {
	m := newFakeModel(say("Returns are easy.")).
		answerJSON(say(`{"applicable": ["order"], "reason": "the customer names an order"}`))
	h := newHarness(t, judgedPolicy(true), m)
	r := h.run("return my order")

	require.True(t, r.exp().Retrieval.Judge.Used)
	assert.Equal(t, []string{"order"}, matchedIDs(r.exp()))
	for _, c := range r.exp().Candidates {
		assert.Positive(t, c.Score, "candidate %s keeps its score", c.RuleID)
		assert.Equal(t, c.RuleID == "order", c.Matched, c.RuleID)
	}
}
