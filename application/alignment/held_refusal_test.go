package alignment

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// invalidReask is the reply to a message whose order number "AC-22222" is
// one digit short, at the step that collects it.
const invalidReask = `"AC-22222" is not a valid order number: AC- followed by six digits. What is your order number, dear customer?`

// assertRefusedAndDropped checks a turn that refused "AC-22222" for the
// order_id it held: the reply and the record say why, and the session no
// longer holds the value the customer meant to replace.
func assertRefusedAndDropped(t *testing.T, r turnResult) {
	t.Helper()
	assert.Equal(t, invalidReask, r.Response)
	assert.Equal(t, `"AC-22222" is not a valid order number: AC- followed by six digits.`, r.exp().Scenario.Reask)
	x, ok := setBy(r.exp(), "order_id")
	require.True(t, ok)
	assert.Equal(t, domain.Extraction{Variable: "order_id", Source: domain.SetByExtractor, Text: "AC-22222", Problem: domain.ProblemInvalid,
		Reason: `"AC-22222" is not a valid order number: AC- followed by six digits`}, x)
	assert.NotContains(t, r.Session.Variables, "order_id", "the held value does not stand in for the refused one")
	require.NotNil(t, r.Session.Scenario)
	assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
}

// docs/agent-bundle.md: a message that offers an invalid value for a
// variable holding one is told why, the held value is dropped and the
// step asks again until a value is accepted; the flow never goes on with
// the order the customer meant to replace.
func TestRefusedValueForAHeldVariableIsSaidAndAskedAgain(t *testing.T) {
	t.Run("a flow started again (on_start: keep)", func(t *testing.T) {
		h := newHarness(t, returnsPolicy(), newFakeModel())
		h.run("I want to return my jacket")
		h.run("AC-111111")
		require.Nil(t, h.run("torn").Session.Scenario, "the first return is done")
		r := h.run("I want to return my jacket too, order AC-22222")
		require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
		assertRefusedAndDropped(t, r)
		assert.Equal(t, "damaged", r.Session.Variables["reason"], "what the message did not name is kept")

		r = h.run("hmm, let me look")
		require.NotNil(t, r.Session.Scenario)
		assert.Equal(t, "ask_order", r.Session.Scenario.StepID, "a reply with no value does not bring the old one back")
		assert.Equal(t, "I still need your order number (AC- followed by six digits). What is your order number, dear customer?", r.Response)
		r = h.run("AC-222222")
		assert.Equal(t, "AC-222222", r.Session.Variables["order_id"])
		require.NotNil(t, r.Session.Scenario)
		assert.Equal(t, "ask_reason", r.Session.Scenario.StepID, "the reason the first return gave is asked for again")
	})
	t.Run("an ambiguous value", func(t *testing.T) {
		h := newHarness(t, returnsPolicy(), newFakeModel())
		h.run("I want to return my jacket")
		h.run("AC-111111")
		require.Nil(t, h.run("torn").Session.Scenario, "the first return is done")
		r := h.run("I want to return my jacket too, order AC-333333 or AC-444444")
		require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
		assert.Equal(t, `The message gives more than one order number ("AC-333333", "AC-444444"): which one is it? What is your order number, dear customer?`, r.Response)
		x, _ := setBy(r.exp(), "order_id")
		assert.Equal(t, domain.ProblemAmbiguous, x.Problem)
		assert.NotContains(t, r.Session.Variables, "order_id")
	})
	t.Run("a later message at the step, whose guard would pass", func(t *testing.T) {
		p := returnsPolicy()
		st := &p.Scenarios[0].Steps[0]
		st.Collects = []string{"order_id", "reason"}
		st.Transitions = []domain.Transition{{To: "confirm", When: "vars.order_id != nil && vars.reason != nil"}}
		h := newHarness(t, p, newFakeModel())
		h.run("I want to return my jacket")
		require.Equal(t, "AC-111111", h.run("AC-111111").Session.Variables["order_id"])
		r := h.run("sorry, it is AC-22222, and it was torn")
		require.Equal(t, domain.ScenarioStay, r.exp().Scenario.Action, r.exp().Scenario.Reason)
		assertRefusedAndDropped(t, r)
		assert.Equal(t, "damaged", r.Session.Variables["reason"])
		r = h.run("AC-222222")
		assert.Equal(t, "Order AC-222222 goes back.", r.Response)
	})
	t.Run("a later message at the step, whose condition would move it on", func(t *testing.T) {
		p := returnsPolicy()
		p.Scenarios[0].Steps[0].Transitions = []domain.Transition{{To: "ask_reason", Condition: "ready to give the reason",
			Examples: []string{"let's continue", "go on to the reason"}}}
		h := newHarness(t, p, newFakeModel())
		h.run("I want to return my jacket")
		require.Equal(t, "AC-111111", h.run("AC-111111").Session.Variables["order_id"])
		r := h.run("AC-22222, let's continue")
		require.Equal(t, domain.ScenarioStay, r.exp().Scenario.Action, "the flow does not move on: %s", r.exp().Scenario.Reason)
		assert.Contains(t, r.exp().Scenario.Reason, "order_id was refused")
		assertRefusedAndDropped(t, r)
		r = h.run("AC-222222, let's continue")
		require.NotNil(t, r.Session.Scenario)
		assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
		assert.Equal(t, "AC-222222", r.Session.Variables["order_id"])
	})
	t.Run("a message at the step giving its first value, whose condition would move it on", func(t *testing.T) {
		p := returnsPolicy()
		p.Scenarios[0].Steps[0].Transitions = []domain.Transition{{To: "ask_reason", Condition: "ready to give the reason",
			Examples: []string{"let's continue", "go on to the reason"}}}
		h := newHarness(t, p, newFakeModel())
		h.run("I want to return my jacket")
		r := h.run("AC-22222, let's continue")
		require.Equal(t, domain.ScenarioStay, r.exp().Scenario.Action, "the flow does not move on without it: %s", r.exp().Scenario.Reason)
		assert.Contains(t, r.exp().Scenario.Reason, "order_id was refused")
		assertRefusedAndDropped(t, r)
		r = h.run("let's continue")
		require.NotNil(t, r.Session.Scenario)
		assert.Equal(t, "ask_reason", r.Session.Scenario.StepID, "a message offering no value moves on as the step says")
	})
}

// metadataOrderPolicy is the returns flow whose order number a client may
// also send in the request's metadata, as "order".
func metadataOrderPolicy() *domain.Policy {
	p := returnsPolicy()
	p.Variables[0].FromMetadata = "order"
	return p
}

// badMetadataOrder is the record of the metadata's order number
// "AC-22222", one digit short.
var badMetadataOrder = domain.Extraction{Variable: "order_id", Source: domain.SetByMetadata, Text: "meta.order",
	Problem: domain.ProblemInvalid, Reason: `"AC-22222" is not a valid order number: AC- followed by six digits`}

// docs/agent-bundle.md: an invalid value from the request's metadata is
// the client's, not the customer's: a value held stays (a client may
// resend its metadata every turn), the flow moves on as it would have,
// and the reply does not say it; the turn record lists the refusal.
func TestRefusedMetadataValueKeepsTheHeldValue(t *testing.T) {
	t.Run("at the step that collects it, whose guard passes", func(t *testing.T) {
		p := metadataOrderPolicy()
		st := &p.Scenarios[0].Steps[0]
		st.Collects = []string{"order_id", "reason"}
		st.Transitions = []domain.Transition{{To: "confirm", When: "vars.order_id != nil && vars.reason != nil"}}
		h := newHarness(t, p, newFakeModel())
		h.run("I want to return my jacket")
		require.Equal(t, "AC-111111", h.run("AC-111111").Session.Variables["order_id"])
		h.meta = map[string]any{"order": "AC-22222"}
		r := h.run("it was torn")
		x, _ := setBy(r.exp(), "order_id")
		assert.Equal(t, badMetadataOrder, x)
		assert.Equal(t, "AC-111111", r.Session.Variables["order_id"], "the held value stays")
		assert.Equal(t, domain.ScenarioAdvance, r.exp().Scenario.Action, r.exp().Scenario.Reason)
		assert.Equal(t, "Order AC-111111 goes back.", r.Response)
	})
	t.Run("at a later step", func(t *testing.T) {
		h := newHarness(t, metadataOrderPolicy(), newFakeModel())
		h.run("I want to return my jacket")
		require.Equal(t, "ask_reason", h.run("AC-111111").Session.Scenario.StepID)
		h.meta = map[string]any{"order": "AC-22222"}
		r := h.run("torn")
		x, _ := setBy(r.exp(), "order_id")
		assert.Equal(t, badMetadataOrder, x)
		assert.Equal(t, "AC-111111", r.Session.Variables["order_id"], "the held value stays")
		assert.Equal(t, "Order AC-111111 goes back.", r.Response)
	})
}

// docs/agent-bundle.md: while the variable is unset, an invalid value
// from metadata is not said to the customer either: the step asks as if
// none had come, and the turn record lists the refusal.
func TestRefusedMetadataValueForAnUnsetVariableIsNotSaid(t *testing.T) {
	h := newHarness(t, metadataOrderPolicy(), newFakeModel())
	h.meta = map[string]any{"order": "AC-22222"}
	r := h.run("I want to return my jacket")
	require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	x, _ := setBy(r.exp(), "order_id")
	assert.Equal(t, badMetadataOrder, x)
	assert.Equal(t, "What is your order number, dear customer?", r.Response, "the step entered asks its question alone")
	assert.Empty(t, r.exp().Scenario.Reask)

	h.meta = map[string]any{"order": "AC-333333 or AC-444444"}
	r = h.run("hmm, let me look")
	x, _ = setBy(r.exp(), "order_id")
	assert.Equal(t, domain.ProblemAmbiguous, x.Problem)
	assert.Equal(t, "I still need your order number (AC- followed by six digits). What is your order number, dear customer?", r.Response,
		"the customer's message gave no order number")
	r = h.run("AC-222222")
	assert.Equal(t, "AC-222222", r.Session.Variables["order_id"], "the message's value is taken")
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
}

// docs/agent-bundle.md: an invalid value from metadata does not hold the
// flow at the step collecting it: a message giving no value moves it on
// as the step says, as it would without the metadata.
func TestRefusedMetadataValueDoesNotHoldTheStep(t *testing.T) {
	p := metadataOrderPolicy()
	p.Scenarios[0].Steps[0].Transitions = []domain.Transition{{To: "ask_reason", Condition: "ready to give the reason",
		Examples: []string{"let's continue", "go on to the reason"}}}
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	h.meta = map[string]any{"order": "AC-22222"}
	r := h.run("let's continue")
	x, _ := setBy(r.exp(), "order_id")
	assert.Equal(t, badMetadataOrder, x)
	require.Equal(t, domain.ScenarioAdvance, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
}
