package alignment

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

func TestExclusiveTemplateAnswersWithoutModel(t *testing.T) {
	hours := globalRule("hours", "opening hours", "Give the hours.")
	hours.TemplateIDs = []string{"hours-answer"}
	p := testPolicy(hours)
	p.Templates = []domain.Template{tpl("hours-answer", domain.ModeExclusive, "{agent_name} here: we open at 9 on turn {turn_number}.")}
	m := newFakeModel(say("model text"))
	h := newHarness(t, p, m)
	r := h.run("opening hours?")

	assert.Equal(t, 0, m.calls())
	assert.Equal(t, "Ada here: we open at 9 on turn 1.", r.Response)
	assert.Equal(t, []string{"Ada here: we open at 9 on turn 1."}, r.deltas)
	assert.Equal(t, domain.Generation{Source: domain.SourceTemplate, TemplateID: "hours-answer"}, r.exp().Generation)
}

// warrantyClaims are phrasings of a warranty claim.
var warrantyClaims = []string{"I have a warranty claim", "my kettle broke and it is still under warranty",
	"I want to claim on the warranty", "is this repair covered by my warranty"}

// promptPolicy exercises every part of the generation prompt. A soft rule
// and a hard rule share one condition, so both match a warranty claim,
// which also starts the claims scenario.
func promptPolicy() *domain.Policy {
	soft := globalRule("soft", "warranty claim", "ACTION-SOFT", warrantyClaims...)
	soft.Priority = 1
	soft.TemplateIDs = []string{"years"}
	soft.ToolIDs = []string{"lookup"}
	hard := hardRule("hardm", "warranty claim", forbid("lifetime warranty"))
	hard.Examples = warrantyClaims
	hard.Action = "ACTION-HARD"
	global := hardRule("ghard", "legal threat", forbid("lawsuit"))
	global.Examples = []string{"I will sue you", "my lawyer will hear about this", "I'm taking you to court"}
	global.Action = "ACTION-GLOBAL"
	hours := globalRule("hours", "opening hours", "ACTION-HOURS", "when do you open", "what are your opening hours")
	p := testPolicy(soft, hard, global, hours)
	p.Templates = []domain.Template{tpl("years", domain.ModeSuggest, "SUGGEST: Warranty lasts {years} years.")}
	p.Tools = []domain.Tool{{ID: "lookup", URL: "http://tools.test/lookup", Outputs: []string{"years"}}}
	p.Scenarios = []domain.Scenario{{ID: "claims", Name: "Claims", EntryCondition: "warranty claim", EntryExamples: warrantyClaims,
		EntryStepID: "collect", Enabled: true, Steps: []domain.Step{{ID: "collect", Instructions: "INSTR-COLLECT"}}}}
	temp := 0.3
	p.Agent.Settings.Temperature, p.Agent.Settings.MaxTokens, p.Agent.Settings.Model = &temp, 300, "model-x"
	n := 2
	p.Agent.Settings.HistoryTurns = &n
	return p
}

func TestGenerationPromptHasEverything(t *testing.T) {
	tools := newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"years": 2}})
	m := newFakeModel(say("Your warranty lasts two years."))
	h := newHarness(t, promptPolicy(), m, withTools(tools))
	for i := 1; i <= 4; i++ {
		h.commit(fmt.Sprintf("message %d", i), fmt.Sprintf("response %d", i), h.session)
	}
	r := h.run("I have a warranty claim")

	require.Equal(t, 1, m.calls(), "one model call for the whole turn")
	assert.Equal(t, 1, r.exp().Generation.ModelCalls)
	req := m.request(0)
	assert.Equal(t, "model-x", req.Model)
	assert.Equal(t, 300, req.MaxTokens)
	require.NotNil(t, req.Temperature)
	assert.InDelta(t, 0.3, *req.Temperature, 1e-9)

	sys := systemMessage(req)
	for _, want := range []string{
		testPrompt,
		"- [MANDATORY] When warranty claim: ACTION-HARD",
		"- When warranty claim: ACTION-SOFT",
		"## Rules that always apply\n- [MANDATORY] ACTION-GLOBAL",
		"INSTR-COLLECT",
		"SUGGEST: Warranty lasts 2 years.",
		"- lookup: years=2",
	} {
		assert.Contains(t, sys, want)
	}
	assert.Less(t, strings.Index(sys, "ACTION-SOFT"), strings.Index(sys, "ACTION-HARD"), "priority orders the rules")

	assert.Equal(t, []ports.ChatMessage{
		{Role: ports.RoleUser, Content: "message 3"},
		{Role: ports.RoleAssistant, Content: "response 3"},
		{Role: ports.RoleUser, Content: "message 4"},
		{Role: ports.RoleAssistant, Content: "response 4"},
		{Role: ports.RoleUser, Content: "I have a warranty claim"},
	}, req.Messages[1:], "the newest history_turns turns, oldest first, then the message")
}

func TestGenerationMakesOneCallHoweverManyRulesMatch(t *testing.T) {
	var rules []domain.Rule
	for i := range 10 {
		rules = append(rules, globalRule(fmt.Sprintf("r%d", i), "delivery", fmt.Sprintf("ACTION-%d", i)))
	}
	p := testPolicy(rules...)
	p.Agent.Settings.TopK = 10
	m := newFakeModel(say("On its way."))
	h := newHarness(t, p, m)
	r := h.run("delivery")
	assert.Len(t, r.exp().Matched, 10)
	assert.Equal(t, 1, m.calls())
	for i := range 10 {
		assert.Contains(t, systemMessage(m.request(0)), fmt.Sprintf("ACTION-%d", i))
	}
}

func TestOfflineModelAnswersFromTemplates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		templates []domain.Template
		bind      []string
		refusal   string
		want      string
		source    string
	}{
		{"suggested template", []domain.Template{tpl("s", domain.ModeSuggest, "Suggested for {agent_name}."),
			tpl("f", domain.ModeFallback, "Fallback.")}, []string{"s"}, "", "Suggested for Ada.", domain.SourceOffline},
		{"agent fallback template", []domain.Template{tpl("f", domain.ModeFallback, "Fallback.")}, nil, "",
			"Fallback.", domain.SourceOffline},
		{"refusal", nil, nil, "", domain.DefaultRefusal, domain.SourceRefusal},
		{"custom refusal", nil, nil, "We cannot answer now.", "We cannot answer now.", domain.SourceRefusal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := globalRule("ship", "shipping", "Talk shipping.")
			rule.TemplateIDs = tc.bind
			p := testPolicy(rule)
			p.Templates = tc.templates
			p.Agent.Settings.RefusalMessage = tc.refusal
			m := newFakeModel(fail(ports.ErrOffline))
			h := newHarness(t, p, m)
			r := h.run("shipping")

			assert.Equal(t, tc.want, r.Response)
			assert.Equal(t, tc.source, r.exp().Generation.Source)
			assert.Equal(t, 0, r.exp().Generation.ModelCalls, "an offline model is not a model call")
			assert.Equal(t, 1, m.calls(), "one attempt, no regeneration")
			assert.Empty(t, r.exp().Enforcement.Violations)
		})
	}
}

func TestModelErrorFailsTheTurn(t *testing.T) {
	m := newFakeModel(fail(domain.Errorf(domain.CodeLLMError, "provider said no")))
	h := newHarness(t, testPolicy(globalRule("ship", "shipping", "Talk shipping.")), m)
	r, err := h.try("shipping")
	require.Error(t, err)
	assert.Equal(t, domain.CodeLLMError, domain.ErrorCodeOf(err))
	assert.Empty(t, r.deltas)
}

func TestGenerationPromptSkipsUnfinishedTurns(t *testing.T) {
	m := newFakeModel(say("Fine."))
	h := newHarness(t, testPolicy(), m)
	h.commit("first", "reply one", h.session)
	h.commitAs(domain.TurnInterrupted, "second", "half a rep", h.session)
	h.commitAs(domain.TurnFailed, "third", "", h.session)
	h.run("fourth")
	assert.Equal(t, []ports.ChatMessage{
		{Role: ports.RoleUser, Content: "first"},
		{Role: ports.RoleAssistant, Content: "reply one"},
		{Role: ports.RoleUser, Content: "fourth"},
	}, m.request(0).Messages[1:])
}

// failingHistory is a turn store whose history reads fail.
type failingHistory struct{ ports.TurnStore }

func (failingHistory) RecentHistory(context.Context, string, string, int) ([]domain.HistoryEntry, error) {
	return nil, domain.Errorf(domain.CodeStoreUnavailable, "the store did not answer in time")
}

func TestGenerationFailsWhenHistoryCannotLoad(t *testing.T) {
	h := newHarness(t, testPolicy(), newFakeModel(say("Fine.")),
		func(d *Deps) { d.History = failingHistory{d.History} })
	h.session.TurnCount = 3 // a later turn reads history
	_, err := h.try("hello")
	assert.Equal(t, domain.CodeStoreUnavailable, domain.ErrorCodeOf(err))
}

// The history the caller read with the session is the prompt's: the
// engine reads none itself (here every read would fail), and keeps the
// newest history_turns of what it was given.
func TestGenerationUsesTheHistoryGivenWithTheSession(t *testing.T) {
	m := newFakeModel(say("Fine."), say("Fine."))
	p := testPolicy()
	n := 2
	p.Agent.Settings.HistoryTurns = &n
	h := newHarness(t, p, m, func(d *Deps) { d.History = failingHistory{d.History} })
	h.session.TurnCount = 3
	given := []domain.HistoryEntry{
		{TurnNumber: 1, Message: "message 1", Response: "response 1", Status: domain.TurnCompleted},
		{TurnNumber: 2, Message: "message 2", Response: "response 2", Status: domain.TurnCompleted},
		{TurnNumber: 3, Message: "message 3", Response: "response 3", Status: domain.TurnCompleted},
	}
	for _, tc := range []struct {
		history []domain.HistoryEntry
		want    []ports.ChatMessage
	}{
		{given, []ports.ChatMessage{
			{Role: ports.RoleUser, Content: "message 2"}, {Role: ports.RoleAssistant, Content: "response 2"},
			{Role: ports.RoleUser, Content: "message 3"}, {Role: ports.RoleAssistant, Content: "response 3"},
			{Role: ports.RoleUser, Content: "hello"},
		}},
		{[]domain.HistoryEntry{}, []ports.ChatMessage{{Role: ports.RoleUser, Content: "hello"}}},
	} {
		calls := m.calls()
		_, err := h.engine.RunTurn(context.Background(), ports.TurnInput{Policy: h.policy, Session: h.session,
			TurnNumber: 4, Message: "hello", History: tc.history, RequestID: "req"}, func(string) error { return nil })
		require.NoError(t, err, "no history read: the store's would fail")
		assert.Equal(t, tc.want, m.request(calls).Messages[1:])
	}
}

func TestRuleFallbackTemplateBeatsAgentFallback(t *testing.T) {
	c := forbid("guaranteed refund")
	rule := hardRule("refunds", "refund", c)
	rule.TemplateIDs = []string{"rule-fb"}
	p := testPolicy(rule)
	p.Agent.Settings.MaxRegenerations = intp(0)
	p.Templates = []domain.Template{
		tpl("agent-fb", domain.ModeFallback, "Agent fallback."),
		tpl("rule-fb", domain.ModeFallback, "Refunds are reviewed case by case."),
	}
	h := newHarness(t, p, newFakeModel(say("A guaranteed refund!")))
	r := h.run("refund")
	assert.Equal(t, "Refunds are reviewed case by case.", r.Response)
	assert.Equal(t, domain.Generation{Source: domain.SourceFallback, TemplateID: "rule-fb", ModelCalls: 1}, r.exp().Generation)
}
