package alignment

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// fixedClock is a ports.Clock that always says one time.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// After is the wall clock's: nothing here waits on this clock.
func (c fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c fixedClock) AfterFunc(d time.Duration, f func()) ports.Timer { return time.AfterFunc(d, f) }

func withClock(t time.Time) func(*Deps) { return func(d *Deps) { d.Clock = fixedClock{t} } }

// returnsPolicy is a returns flow that collects an order number and a
// reason, looks the order up on entering its confirmation, and reads the
// customer's tier from the request's metadata.
func returnsPolicy() *domain.Policy {
	p := testPolicy(globalRule("hours", "opening hours; when are you open", "Give the hours.",
		"what are your opening hours?", "when do you open", "are you open on Sunday"))
	p.Rules[0].TemplateIDs = []string{"tpl_hours"}
	p.Variables = []domain.Variable{
		{Name: "order_id", Type: domain.VarPattern, Description: "order number", Hint: "AC- followed by six digits",
			Pattern: `\bac[\s-]*(\d+)\b|\b(\d{6})\b`, Normalize: "AC-$1$2", Valid: `AC-\d{6}`, Changeable: true},
		{Name: "reason", Type: domain.VarEnum, Description: "reason for the return", Changeable: true, Values: []domain.EnumValue{
			{Value: "wrong_size", Synonyms: []string{"too tight", "too small"}},
			{Value: "damaged", Synonyms: []string{"broken zipper", "torn"}}}},
		{Name: "tier", Type: domain.VarText, FromMetadata: "tier", Changeable: true},
		{Name: "greeted", Type: domain.VarBoolean, Initial: false, Changeable: true},
		{Name: "pickup", Type: domain.VarDate, Description: "pickup date", Changeable: true},
	}
	p.Scenarios = []domain.Scenario{{ID: "returns", EntryCondition: "return an item; send something back", Enabled: true,
		EntryExamples: []string{"I want to return my jacket", "can I send these shoes back"},
		EntryStepID:   "ask_order", Steps: []domain.Step{
			{ID: "ask_order", TemplateIDs: []string{"tpl_ask_order"}, Collects: []string{"order_id"},
				Transitions: []domain.Transition{{To: "ask_reason", When: "vars.order_id != nil"}}},
			{ID: "ask_reason", TemplateIDs: []string{"tpl_ask_reason"}, Collects: []string{"reason"},
				Transitions: []domain.Transition{{To: "confirm", When: `vars.reason in ["wrong_size", "damaged"]`}}},
			{ID: "confirm", Terminal: true, TemplateIDs: []string{"tpl_confirm"}, ToolsOnEntry: []string{"lookup"}},
		}}}
	p.Templates = []domain.Template{
		tpl("tpl_hours", domain.ModeExclusive, "We open at 9am."),
		tpl("tpl_ask_order", domain.ModeExclusive, "What is your order number, {tier|dear customer}?"),
		tpl("tpl_ask_reason", domain.ModeExclusive, "Why are you returning it?"),
		{ID: "tpl_confirm", Mode: domain.ModeExclusive, Text: "Your {item_name} (order {order_id}) goes back.",
			Default: "Order {order_id|your order} goes back."},
	}
	p.Tools = []domain.Tool{{ID: "lookup", URL: "https://tools.example/lookup", Inputs: []string{"order_id"}, Outputs: []string{"item_name"}}}
	return p
}

// setBy finds a variable's entry in a turn's record.
func setBy(e domain.Explanation, name string) (domain.Extraction, bool) {
	for _, x := range e.Variables {
		if x.Variable == name {
			return x, true
		}
	}
	return domain.Extraction{}, false
}

// The returns flow: an invalid order number is refused and the step asks
// again with why; the customer's own words give the number and the reason;
// guards move the flow on; the tool on entry gets the number and its
// answer names the item in the confirmation.
func TestCollectStepsReadReaskAndAdvance(t *testing.T) {
	tools := newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"item_name": "blue jacket"}})
	h := newHarness(t, returnsPolicy(), newFakeModel(), withTools(tools))

	r := h.run("I want to return my jacket")
	assert.Equal(t, "What is your order number, dear customer?", r.Response)

	r = h.run("it's AC-12345")
	require.NotNil(t, r.Session.Scenario)
	assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
	assert.Equal(t, `"AC-12345" is not a valid order number: AC- followed by six digits. What is your order number, dear customer?`, r.Response)
	assert.Contains(t, r.exp().Scenario.Reask, "not a valid order number")
	x, ok := setBy(r.exp(), "order_id")
	require.True(t, ok)
	assert.Equal(t, domain.ProblemInvalid, x.Problem)
	assert.Nil(t, r.Session.Variables["order_id"], "an invalid value is not stored")

	r = h.run("ac123456")
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
	assert.Equal(t, "Why are you returning it?", r.Response)
	x, _ = setBy(r.exp(), "order_id")
	assert.Equal(t, domain.Extraction{Variable: "order_id", Source: domain.SetByExtractor, Value: "AC-123456", Text: "ac123456"}, x)
	assert.Equal(t, domain.ScenarioAdvance, r.exp().Scenario.Action)

	r = h.run("it was too tight")
	assert.Equal(t, "Your blue jacket (order AC-123456) goes back.", r.Response)
	x, _ = setBy(r.exp(), "reason")
	assert.Equal(t, "wrong_size", x.Value)
	assert.Equal(t, "too tight", x.Text)
	require.Len(t, r.exp().ToolCalls, 1)
	call := r.exp().ToolCalls[0]
	assert.Equal(t, "returns/confirm", call.Step)
	assert.Equal(t, "entry", call.On)
	assert.Equal(t, map[string]any{"order_id": "AC-123456"}, call.Input)
	x, _ = setBy(r.exp(), "item_name")
	assert.Equal(t, domain.Extraction{Variable: "item_name", Source: domain.SetByTool, Value: "blue jacket", Text: "lookup"}, x)
	assert.Equal(t, "turn-4", tools.records()[0].in.TurnID, "the call carries the turn id its idempotency key is made of")
	assert.Nil(t, r.Session.Scenario, "the terminal step ends the flow")
}

// A message with nothing usable is asked again naming what is needed; one
// with two order numbers is ambiguous and neither is kept.
func TestCollectStepReasksWhenMissingOrAmbiguous(t *testing.T) {
	h := newHarness(t, returnsPolicy(), newFakeModel().answerJSON(say(`{"order_id": null}`)))
	h.run("I want to return my jacket")
	r := h.run("hmm, let me look")
	assert.Equal(t, "I still need your order number (AC- followed by six digits). What is your order number, dear customer?", r.Response)
	r = h.run("AC-111111 or AC-222222")
	x, _ := setBy(r.exp(), "order_id")
	assert.Equal(t, domain.ProblemAmbiguous, x.Problem)
	assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
}

// A message that starts a flow with an invalid value is told why, as one
// at the step would be: the value is not stored, the turn records the
// refusal, and the step's question follows the reason; with a model the
// reason goes into the prompt.
func TestFlowStartWithAnInvalidValueSaysWhy(t *testing.T) {
	h := newHarness(t, returnsPolicy(), newFakeModel())
	r := h.run("I want to return order AC-12345")
	require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	assert.Equal(t, `"AC-12345" is not a valid order number: AC- followed by six digits. What is your order number, dear customer?`, r.Response)
	assert.Contains(t, r.exp().Scenario.Reask, "not a valid order number")
	x, ok := setBy(r.exp(), "order_id")
	require.True(t, ok)
	assert.Equal(t, domain.Extraction{Variable: "order_id", Source: domain.SetByExtractor, Text: "AC-12345", Problem: domain.ProblemInvalid,
		Reason: `"AC-12345" is not a valid order number: AC- followed by six digits`}, x)
	assert.Nil(t, r.Session.Variables["order_id"], "an invalid value is not stored")

	r = newHarness(t, returnsPolicy(), newFakeModel()).run("I want to return order AC-111111 or AC-222222")
	assert.Equal(t, `The message gives more than one order number ("AC-111111", "AC-222222"): which one is it? What is your order number, dear customer?`, r.Response)
	assert.Nil(t, r.Session.Variables["order_id"], "an ambiguous value is not stored")

	p := returnsPolicy()
	p.Templates[1].Mode = domain.ModeSuggest
	m := newFakeModel(say("Which order is it?"))
	h = newHarness(t, p, m)
	h.run("I want to return order AC-12345")
	assert.Contains(t, systemMessage(m.request(0)), "## What the step still needs\n\"AC-12345\" is not a valid order number")
}

// A tool's answer that is not a valid value of the variable it names is
// refused whole: nothing of it is stored and the reply falls back to the
// template's default text rather than a blank.
func TestInvalidToolOutputsAreRefused(t *testing.T) {
	p := returnsPolicy()
	p.Tools[0].Outputs = []string{"item_name", "order_id"}
	tools := newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"item_name": "coat", "order_id": "not an order"}})
	h := newHarness(t, p, newFakeModel(), withTools(tools))
	h.run("I want to return my jacket")
	h.run("AC-123456")
	r := h.run("torn")
	require.Len(t, r.exp().ToolCalls, 1)
	assert.Contains(t, r.exp().ToolCalls[0].Error, "order_id is invalid")
	assert.Equal(t, "AC-123456", r.Session.Variables["order_id"])
	assert.Nil(t, r.Session.Variables["item_name"])
	assert.Equal(t, "Order AC-123456 goes back.", r.Response)
}

// Metadata reaches the engine: from_metadata sets a variable (recorded as
// set by metadata), meta.* fills templates and guards, and initial values
// are set in the first turn.
func TestMetadataAndInitialValues(t *testing.T) {
	p := returnsPolicy()
	p.Templates[1].Text = "What is your order number, {tier|dear customer}? ({meta.channel_hint|no hint})"
	p.Scenarios[0].Steps[0].Transitions = append([]domain.Transition{{To: "confirm", When: `meta.vip == true`}},
		p.Scenarios[0].Steps[0].Transitions...)
	h := newHarness(t, p, newFakeModel())
	h.meta = map[string]any{"tier": "gold", "channel_hint": "app"}
	r := h.run("I want to return my jacket")
	assert.Equal(t, "What is your order number, gold? (app)", r.Response)
	x, _ := setBy(r.exp(), "tier")
	assert.Equal(t, domain.Extraction{Variable: "tier", Source: domain.SetByMetadata, Value: "gold", Text: "meta.tier"}, x)
	x, _ = setBy(r.exp(), "greeted")
	assert.Equal(t, domain.Extraction{Variable: "greeted", Source: domain.SetByInitial, Value: false}, x)

	h.meta = map[string]any{"vip": true}
	r = h.run("hello?")
	assert.Equal(t, domain.ScenarioAdvance, r.exp().Scenario.Action, "a guard reads meta.*")
	assert.Equal(t, "confirm", r.exp().Scenario.After.Step)
	assert.Equal(t, "gold", r.Session.Variables["tier"], "the session keeps what metadata set")
}

// A question mid-flow is answered by its rule and the step's question
// follows; the flow stays and the next turn resumes it.
func TestDigressionAnswersAndResumes(t *testing.T) {
	h := newHarness(t, returnsPolicy(), newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("what are your opening hours?")
	assert.Equal(t, "We open at 9am.\n\nWhat is your order number, dear customer?", r.Response)
	assert.Equal(t, "hours", r.exp().Scenario.Digression)
	assert.Equal(t, domain.ScenarioStay, r.exp().Scenario.Action)
	r = h.run("123456")
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
}

// A digression whose answer ends with a question of its own is said as
// written: a second question after it would leave the customer two to
// answer. The flow still waits at its step.
func TestDigressionThatAsksAddsNoStepQuestion(t *testing.T) {
	p := returnsPolicy()
	p.Templates[0].Text = "We open at 9am. Shall I send you the address?"
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("what are your opening hours?")
	assert.Equal(t, "We open at 9am. Shall I send you the address?", r.Response)
	assert.Equal(t, "hours", r.exp().Scenario.Digression)
	assert.Equal(t, domain.ScenarioStay, r.exp().Scenario.Action)
	r = h.run("123456")
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
}

// The built-in commands leave the flow when switched on, and only then.
func TestBuiltInCommands(t *testing.T) {
	p := returnsPolicy()
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("cancel")
	assert.NotNil(t, r.Session.Scenario, "commands are off by default")

	p = returnsPolicy()
	p.Agent.Settings.Commands = []string{domain.CommandCancel, domain.CommandHuman}
	h = newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r = h.run("never mind")
	assert.Nil(t, r.Session.Scenario)
	assert.Equal(t, domain.CommandCancel, r.exp().Scenario.Command)
	assert.Equal(t, cancelReply, r.Response)
	r = h.run("can I talk to a human?")
	assert.Equal(t, domain.CommandHuman, r.exp().Scenario.Command)
	assert.Equal(t, humanReply, r.Response)
	assert.Empty(t, domain.FlowCommand("can I cancel my order from last week?", p.Agent.Settings.Commands),
		"a sentence that mentions cancelling is a question, not the command")
}

// With a model, one structured call reads what the patterns could not;
// none is made when they filled the step, and never more than one a turn.
func TestModelExtractionAtMostOncePerTurn(t *testing.T) {
	m := newFakeModel().answerJSON(say(`{"reason": "damaged"}`))
	h := newHarness(t, returnsPolicy(), m)
	h.run("I want to return my jacket")
	before := m.calls()
	r := h.run("AC-123456")
	assert.Equal(t, before, m.calls(), "the pattern filled the step: no model call")
	assert.Equal(t, 0, r.exp().Generation.ModelCalls)

	before = m.calls()
	r = h.run("the stitching came apart on day one")
	assert.Equal(t, before+1, m.calls(), "one extraction call")
	assert.True(t, m.request(before).JSON)
	x, _ := setBy(r.exp(), "reason")
	assert.Equal(t, domain.Extraction{Variable: "reason", Source: domain.SetByModel, Value: "damaged", Text: "damaged"}, x)
	assert.Equal(t, 1, r.exp().Generation.ModelCalls)
	assert.Equal(t, "confirm", r.exp().Scenario.After.Step)
}

// Relative dates are read on the agent's calendar: late evening in UTC is
// already tomorrow in Tokyo.
func TestRelativeDatesUseTheAgentsTimeZone(t *testing.T) {
	p := returnsPolicy()
	p.Agent.Settings.TimeZone = "Asia/Tokyo"
	p.Scenarios[0].Steps[1].Collects = []string{"pickup"}
	p.Scenarios[0].Steps[1].Transitions = []domain.Transition{{To: "confirm", When: `vars.pickup != nil && days_between(today, vars.pickup) == 1`}}
	h := newHarness(t, p, newFakeModel(), withClock(time.Date(2025, time.January, 15, 20, 0, 0, 0, time.UTC)))
	h.run("I want to return my jacket")
	h.run("AC-123456")
	r := h.run("pick it up tomorrow please")
	x, _ := setBy(r.exp(), "pickup")
	assert.Equal(t, "2025-01-17", x.Value, "it is already the 16th in Tokyo")
	assert.Equal(t, "confirm", r.exp().Scenario.After.Step, "today in the guard is Tokyo's too")
}

// flowScenario is a one-step flow started by its entry examples.
func flowScenario(id string, terminal bool, examples ...string) domain.Scenario {
	return domain.Scenario{ID: id, Name: id, EntryCondition: examples[0], EntryExamples: examples[1:], Enabled: true, EntryStepID: "only",
		Steps: []domain.Step{{ID: "only", Terminal: terminal, TemplateIDs: []string{"tpl_" + id}}}}
}

// A flow started from inside another returns to it when it ends, with the
// waiting flow's question; cancelling the inner flow resumes the outer
// one; at most three flows are open at once.
func TestNestedFlowsReturnAndStayWithinDepth(t *testing.T) {
	p := returnsPolicy()
	p.Agent.Settings.Commands = []string{domain.CommandCancel}
	p.Scenarios = append(p.Scenarios,
		flowScenario("address", true, "change my delivery address", "I moved house, update my address", "new shipping address please"),
		flowScenario("gift", false, "wrap it as a gift", "can you gift wrap it", "add a gift message"),
		flowScenario("invoice", false, "send me an invoice", "I need a VAT invoice", "invoice for my company"),
		flowScenario("newsletter", false, "unsubscribe from the newsletter", "stop the marketing emails", "remove me from your mailing list"))
	p.Templates = append(p.Templates, tpl("tpl_address", domain.ModeExclusive, "Your new address is noted."),
		tpl("tpl_gift", domain.ModeExclusive, "Gift wrap it is."), tpl("tpl_invoice", domain.ModeExclusive, "Which company?"),
		tpl("tpl_newsletter", domain.ModeExclusive, "You are unsubscribed."))
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")

	r := h.run("I moved house, update my delivery address")
	assert.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action)
	assert.Equal(t, "address", r.exp().Scenario.After.ID)
	assert.Equal(t, "Your new address is noted.\n\nBack to returns: What is your order number, dear customer?", r.Response)
	assert.Equal(t, "returns", r.exp().Scenario.Resumed.ID, "the terminal step ends the inner flow; the outer resumes")
	require.NotNil(t, r.Session.Scenario)
	assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
	assert.Empty(t, r.Session.FlowStack)

	r = h.run("can you gift wrap it")
	assert.Equal(t, "gift", r.Session.Scenario.ScenarioID)
	assert.Len(t, r.Session.FlowStack, 1)
	r = h.run("I need a VAT invoice for my company")
	assert.Equal(t, "invoice", r.Session.Scenario.ScenarioID)
	assert.Len(t, r.Session.FlowStack, 2)
	r = h.run("remove me from your mailing list")
	assert.Equal(t, "invoice", r.Session.Scenario.ScenarioID, "three flows are open: a fourth does not start")
	assert.Len(t, r.Session.FlowStack, 2)

	r = h.run("cancel")
	assert.Equal(t, domain.CommandCancel, r.exp().Scenario.Command)
	assert.Equal(t, "gift", r.Session.Scenario.ScenarioID, "cancel leaves the inner flow only")
	assert.Equal(t, cancelReply+"\n\nBack to gift: Gift wrap it is.", r.Response)
	r = h.run("cancel")
	assert.Equal(t, "returns", r.Session.Scenario.ScenarioID)
	r = h.run("AC-123456")
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID, "the resumed flow goes on where it was")
}

// A step's completion tools run in the turn its variables become
// complete, once, with those variables as inputs.
func TestToolsRunWhenAStepIsComplete(t *testing.T) {
	p := returnsPolicy()
	p.Scenarios[0].Steps[0].ToolsOnComplete = []string{"lookup"}
	p.Scenarios[0].Steps[2].ToolsOnEntry = nil
	tools := newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"item_name": "scarf"}})
	h := newHarness(t, p, newFakeModel(), withTools(tools))
	h.run("I want to return my jacket")
	r := h.run("not sure yet")
	assert.Empty(t, r.exp().ToolCalls, "the step is not complete")
	r = h.run("AC-123456")
	require.Len(t, r.exp().ToolCalls, 1)
	assert.Equal(t, "complete", r.exp().ToolCalls[0].On)
	assert.Equal(t, "returns/ask_order", r.exp().ToolCalls[0].Step)
	assert.Equal(t, map[string]any{"order_id": "AC-123456"}, r.exp().ToolCalls[0].Input)
	r = h.run("torn")
	assert.Empty(t, r.exp().ToolCalls, "a step completes once")
	assert.Equal(t, "Your scarf (order AC-123456) goes back.", r.Response)
}

// A message that moves the flow on may also give what the step entered
// asks for: the reply reads that value too, though a transition's guard
// gathered the variables earlier in the turn, before it was read.
func TestReplyReadsWhatTheMessageGaveTheStepEntered(t *testing.T) {
	p := returnsPolicy()
	p.Templates[2] = tpl("tpl_ask_reason", domain.ModeExclusive, "Returning order {order_id} ({reason|no reason yet}).")
	// Confirmed in words, so that the reason given does not pass the step.
	p.Scenarios[0].Steps[1].Transitions = []domain.Transition{{To: "confirm", Condition: "confirm the return",
		Examples: []string{"yes, confirm the return", "go ahead"}}}
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("order ac123456, it was too tight")
	require.NotNil(t, r.Session.Scenario)
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
	assert.Equal(t, "Returning order AC-123456 (wrong_size).", r.Response)
}

// Commands outside a flow are ordinary messages but for "human": a
// "cancel" with nothing to cancel goes to the rules. "human" leaves every
// flow open, the waiting ones too: none resumes.
func TestCommandsLeaveOnlyOpenFlows(t *testing.T) {
	p := returnsPolicy()
	p.Agent.Settings.Commands = []string{domain.CommandCancel, domain.CommandHuman}
	p.Scenarios = append(p.Scenarios, flowScenario("gift", false, "wrap it as a gift", "can you gift wrap it", "add a gift message"))
	p.Templates = append(p.Templates, tpl("tpl_gift", domain.ModeExclusive, "Gift wrap it is."))
	h := newHarness(t, p, newFakeModel(say("How can I help?")))
	r := h.run("cancel")
	assert.Empty(t, r.exp().Scenario.Command, "no flow to cancel")
	assert.Equal(t, "How can I help?", r.Response)

	h.run("I want to return my jacket")
	r = h.run("can you gift wrap it")
	require.Len(t, r.Session.FlowStack, 1)
	r = h.run("human")
	assert.Equal(t, domain.CommandHuman, r.exp().Scenario.Command)
	assert.Equal(t, humanReply, r.Response)
	assert.Nil(t, r.exp().Scenario.Resumed, "no flow resumes")
	assert.Nil(t, r.Session.Scenario)
	assert.Empty(t, r.Session.FlowStack)
}

// A flow already open does not start again inside itself: asking to
// return something mid-return keeps the flow at its step.
func TestOpenFlowDoesNotNestInItself(t *testing.T) {
	h := newHarness(t, returnsPolicy(), newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("can I send these shoes back")
	assert.NotEqual(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	require.NotNil(t, r.Session.Scenario)
	assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
	assert.Empty(t, r.Session.FlowStack)
}

// secondReturn runs a return to its end, then starts another whose
// message names another order, order_id changeable or not.
func secondReturn(t *testing.T, changeable bool) (*harness, turnResult) {
	t.Helper()
	p := returnsPolicy()
	p.Variables[0].Changeable = changeable
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	h.run("AC-111111")
	require.Nil(t, h.run("torn").Session.Scenario, "the first return is done")
	r := h.run("I want to return my jacket too, order AC-222222")
	require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	return h, r
}

// A variable that may not change keeps the value an earlier flow gave it,
// though the message that starts the next flow names another.
func TestStepEnteredKeepsAValueThatMayNotChange(t *testing.T) {
	_, r := secondReturn(t, false)
	assert.Equal(t, "AC-111111", r.Session.Variables["order_id"])
}

// A message that starts a flow again names what this time is about: a
// second return's order number replaces the first's, where the variable
// may change.
func TestFlowStartedAgainTakesTheValueItsMessageGives(t *testing.T) {
	h, r := secondReturn(t, true)
	assert.Equal(t, "AC-222222", r.Session.Variables["order_id"])
	h.run("torn")
	require.Nil(t, h.run("torn").Session.Scenario, "the second return is done")
	r = h.run("I want to return my scarf")
	require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	assert.Equal(t, "AC-222222", r.Session.Variables["order_id"], "a start that names no order keeps the one given")
}

// twoReturns is a return run to its end and another started after it.
type twoReturns struct {
	h             *harness
	first, second turnResult // the turns that started them
	tools         *fakeTools
}

// returnTwice runs a return to its end, the customer's tier sent once in
// metadata and the reason's message also saying yes to greeted, then
// starts another with the returns flow's on_start set to onStart. The
// order step's tool on entry, note, is given every variable.
func returnTwice(t *testing.T, onStart domain.StartMode) twoReturns {
	t.Helper()
	p := returnsPolicy()
	p.Scenarios[0].OnStart = onStart
	p.Scenarios[0].Steps[0].ToolsOnEntry = []string{"note"}
	p.Scenarios[0].Steps[1].Collects = []string{"reason", "greeted", "tier"}
	p.Variables[1].Changeable = false
	p.Tools = append(p.Tools, domain.Tool{ID: "note", URL: "https://tools.example/note"})
	tr := twoReturns{tools: newFakeTools()}
	tr.h = newHarness(t, p, newFakeModel(), withTools(tr.tools))
	tr.h.meta = map[string]any{"tier": "gold"}
	tr.first = tr.h.run("I want to return my jacket")
	tr.h.meta = nil
	tr.h.run("AC-111111")
	r := tr.h.run("torn, yes")
	require.Nil(t, r.Session.Scenario, "the first return is done")
	require.Equal(t, map[string]any{"order_id": "AC-111111", "reason": "damaged", "greeted": true, "tier": "gold"}, r.Session.Variables)
	tr.second = tr.h.run("I want to return my scarf too, order AC-222222")
	require.Equal(t, domain.ScenarioStart, tr.second.exp().Scenario.Action, tr.second.exp().Scenario.Reason)
	return tr
}

// A flow whose on_start is clear starts again without what its steps
// collected last time: the reason is asked for again (though it may not
// change within a run), a value with an initial one goes back to it,
// metadata's stays, and the message that starts it is read afterwards.
// The step's tools on entry see the values as cleared; a first start has
// nothing to clear.
func TestFlowStartedAgainClearsWhatItCollectsWhenToldTo(t *testing.T) {
	tr := returnTwice(t, domain.StartClear)
	assert.Equal(t, []domain.Extraction{{Variable: "tier", Source: domain.SetByMetadata, Value: "gold", Text: "meta.tier"},
		{Variable: "greeted", Source: domain.SetByInitial, Value: false}}, tr.first.exp().Variables)
	r := tr.second
	assert.Equal(t, map[string]any{"order_id": "AC-222222", "greeted": false, "tier": "gold"}, r.Session.Variables)
	x, _ := setBy(r.exp(), "reason")
	assert.Equal(t, domain.Extraction{Variable: "reason", Source: domain.ClearedOnStart}, x)
	x, _ = setBy(r.exp(), "greeted")
	assert.Equal(t, domain.Extraction{Variable: "greeted", Source: domain.SetByInitial, Value: false}, x)
	calls := tr.tools.records()
	require.Len(t, calls, 3, "note, lookup, note")
	assert.NotContains(t, calls[2].in.Variables, "reason")
	assert.Equal(t, false, calls[2].in.Variables["greeted"])

	require.Equal(t, "ask_reason", tr.h.run("ok").Session.Scenario.StepID)
	r = tr.h.run("hmm")
	assert.Equal(t, "I still need your reason for the return. Why are you returning it?", r.Response)
	r = tr.h.run("too tight")
	assert.Equal(t, "wrong_size", r.Session.Variables["reason"])
	assert.Nil(t, r.Session.Scenario, "the second return is done")
}

// By default (and with on_start: keep) a flow started again keeps what its
// steps collected last time: the second return goes on with the first's
// reason.
func TestFlowStartedAgainKeepsWhatItCollectedByDefault(t *testing.T) {
	for _, onStart := range []domain.StartMode{"", domain.StartKeep} {
		tr := returnTwice(t, onStart)
		assert.Equal(t, map[string]any{"order_id": "AC-222222", "reason": "damaged", "greeted": true, "tier": "gold"}, tr.second.Session.Variables, onStart)
		tr.h.run("ok")
		r := tr.h.run("hmm")
		assert.Nil(t, r.Session.Scenario, "%q: the reason kept, the flow ends", onStart)
	}
}

// Completion tools run in the turn a step's variables become complete,
// not again on a later turn that finds the step still complete.
func TestCompletionToolsRunOncePerStep(t *testing.T) {
	p := returnsPolicy()
	p.Scenarios[0].Steps[0].ToolsOnComplete = []string{"lookup"}
	// The step moves on only when the customer says so.
	p.Scenarios[0].Steps[0].Transitions = []domain.Transition{{To: "ask_reason", Condition: "ready to give the reason",
		Examples: []string{"let's continue", "go on to the reason"}}}
	tools := newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"item_name": "scarf"}})
	h := newHarness(t, p, newFakeModel(), withTools(tools))
	h.run("I want to return my jacket")
	r := h.run("AC-123456")
	require.Equal(t, "ask_order", r.Session.Scenario.StepID)
	require.Len(t, r.exp().ToolCalls, 1)
	r = h.run("what are your opening hours?")
	require.Equal(t, "ask_order", r.Session.Scenario.StepID)
	assert.Empty(t, r.exp().ToolCalls, "the step was complete already")
}

// A step whose own question is the re-ask's very words says it once.
func TestReaskThatIsTheStepsQuestionIsSaidOnce(t *testing.T) {
	p := returnsPolicy()
	p.Variables[0].Hint = ""
	p.Templates[1].Text = "I still need your order number."
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("hmm, let me look")
	assert.Equal(t, "I still need your order number.", r.Response)
	assert.Equal(t, "I still need your order number.", r.exp().Scenario.Reask)
}

// docs/agent-bundle.md (Digressions): a global rule answering mid-flow is
// a digression; a rule of the flow itself is part of it, not one.
func TestOnlyGlobalRulesDigress(t *testing.T) {
	p := returnsPolicy()
	p.Rules = append(p.Rules, domain.Rule{ID: "return_window", Condition: "how long do I have to return an item",
		Examples: []string{"how many days do I have to return it?", "is there a deadline for returns?"}, Action: "Give the window.",
		Scope: domain.ScopeScenario, ScopeID: "returns", Enabled: true, TemplateIDs: []string{"tpl_window"}})
	p.Templates = append(p.Templates, tpl("tpl_window", domain.ModeExclusive, "You have 30 days."))
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("how many days do I have to return it?")
	require.Equal(t, []string{"return_window"}, matchedIDs(r.exp()))
	assert.Empty(t, r.exp().Scenario.Digression)
	r = h.run("what are your opening hours?")
	assert.Equal(t, "hours", r.exp().Scenario.Digression)
}

// The question a waiting flow is returned to with is its step's own
// (exclusive) template, not a suggestion listed before it.
func TestReturnQuestionIsTheStepsExclusiveTemplate(t *testing.T) {
	p := returnsPolicy()
	p.Scenarios[0].Steps[0].TemplateIDs = []string{"tpl_order_hint", "tpl_ask_order"}
	p.Scenarios = append(p.Scenarios, flowScenario("address", true, "change my delivery address", "I moved house, update my address"))
	p.Templates = append(p.Templates, tpl("tpl_order_hint", domain.ModeSuggest, "Order numbers are on the receipt."),
		tpl("tpl_address", domain.ModeExclusive, "Your new address is noted."))
	h := newHarness(t, p, newFakeModel())
	r := h.run("I want to return my jacket")
	require.Equal(t, "What is your order number, dear customer?", r.Response)
	r = h.run("I moved house, update my delivery address")
	assert.Equal(t, "Your new address is noted.\n\nBack to returns: What is your order number, dear customer?", r.Response)
}

// docs/agent-bundle.md (Variables): `initial` is a new session's value. A
// variable declared once the session is under way starts unset there.
func TestInitialValuesAreANewSessionsOnly(t *testing.T) {
	h := newHarness(t, returnsPolicy(), newFakeModel())
	h.run("I want to return my jacket")
	p := returnsPolicy()
	p.Agent.Version = 2
	p.Variables = append(p.Variables, domain.Variable{Name: "newsletter", Type: domain.VarBoolean, Initial: true, Changeable: true})
	h.policy = p
	r := h.run("AC-123456")
	_, set := setBy(r.exp(), "newsletter")
	assert.False(t, set, "not set in turn 2")
	assert.Nil(t, r.Session.Variables["newsletter"])
}

// A command's built-in reply is held to the hard constraints like any
// other: when it breaks one the refusal answers instead, and the command
// still applies.
func TestCommandReplyObeysHardConstraints(t *testing.T) {
	p := returnsPolicy()
	p.Agent.Settings.Commands = []string{domain.CommandCancel}
	p.Rules = append(p.Rules, hardRule("no_stopping", "unrelated condition", forbid("stopped")))
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("cancel")
	assert.Nil(t, r.Session.Scenario, "the flow is cancelled")
	assert.NotContains(t, r.Response, "stopped")
	e := r.exp().Enforcement
	require.Len(t, e.Violations, 1)
	assert.Equal(t, "stopped", e.Violations[0].Value)
	assert.True(t, e.Refused)
}

// Two flows whose entry conditions score alike: the first declared starts,
// inside another flow as outside one.
func TestNestedStartTieGoesToTheFirstDeclared(t *testing.T) {
	p := returnsPolicy()
	p.Scenarios = append(p.Scenarios,
		flowScenario("gift", false, "wrap it as a gift", "can you gift wrap it", "add a gift message"),
		flowScenario("gift_copy", false, "wrap it as a gift", "can you gift wrap it", "add a gift message"))
	p.Templates = append(p.Templates, tpl("tpl_gift", domain.ModeExclusive, "Gift wrap it is."),
		tpl("tpl_gift_copy", domain.ModeExclusive, "Gift wrap it is, again."))
	r := newHarness(t, p, newFakeModel()).run("can you gift wrap it")
	require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	assert.Equal(t, "gift", r.exp().Scenario.After.ID, "outside a flow")

	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r = h.run("can you gift wrap it")
	require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	assert.Equal(t, "gift", r.exp().Scenario.After.ID, "inside one")
}

// docs/agent-bundle.md: a step entered that already holds what it collects
// is passed by its guarded transition, in the same turn: the reply asks
// for what is still missing, not for what the message just gave.
func TestStepThatHoldsWhatItCollectsIsPassed(t *testing.T) {
	t.Run("the message that starts the flow gives the order number", func(t *testing.T) {
		h := newHarness(t, returnsPolicy(), newFakeModel())
		r := h.run("I want to return my jacket, order AC-123456")
		d := r.exp().Scenario
		require.Equal(t, domain.ScenarioStart, d.Action, d.Reason)
		assert.Equal(t, []string{"ask_order"}, d.Passed)
		assert.Equal(t, &domain.ScenarioRef{ID: "returns", Step: "ask_reason"}, d.After)
		assert.Contains(t, d.Reason, "ask_order holds what it collects: passed on to ask_reason")
		assert.Equal(t, "Why are you returning it?", r.Response)
		assert.Equal(t, map[string]int{"ask_order": 1, "ask_reason": 1}, r.Session.Scenario.StepVisits)
		var path []string
		for _, v := range r.Session.VisitHistory {
			path = append(path, v.StepID)
		}
		assert.Equal(t, []string{"ask_order", "ask_reason"}, path)
	})
	t.Run("and the reason: on to the confirmation, whose tool runs", func(t *testing.T) {
		tools := newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"item_name": "blue jacket"}})
		h := newHarness(t, returnsPolicy(), newFakeModel(), withTools(tools))
		r := h.run("I want to return my jacket, order AC-123456, it was too tight")
		assert.Equal(t, []string{"ask_order", "ask_reason"}, r.exp().Scenario.Passed)
		assert.Equal(t, "Your blue jacket (order AC-123456) goes back.", r.Response)
		assert.Nil(t, r.Session.Scenario, "the terminal step answered")
	})
	t.Run("the order number sent in metadata", func(t *testing.T) {
		h := newHarness(t, metadataOrderPolicy(), newFakeModel())
		h.meta = map[string]any{"order": "AC-111111"}
		r := h.run("I want to return my jacket")
		assert.Equal(t, []string{"ask_order"}, r.exp().Scenario.Passed)
		assert.Equal(t, "Why are you returning it?", r.Response)
	})
	t.Run("a message that moves the flow on gives the next step's value", func(t *testing.T) {
		h := newHarness(t, returnsPolicy(), newFakeModel())
		h.run("I want to return my jacket")
		r := h.run("AC-123456, it was too small")
		d := r.exp().Scenario
		require.Equal(t, domain.ScenarioAdvance, d.Action, d.Reason)
		assert.Equal(t, []string{"ask_reason"}, d.Passed)
		assert.Equal(t, "Order AC-123456 goes back.", r.Response)
	})
}

// docs/agent-bundle.md: what a filled step is not passed for.
func TestFilledStepIsNotPassed(t *testing.T) {
	start := "I want to return my jacket, order AC-123456"
	for _, tc := range []struct {
		name   string
		change func(*domain.Policy)
	}{
		{"it runs a tool on completion", func(p *domain.Policy) { p.Scenarios[0].Steps[0].ToolsOnComplete = []string{"lookup"} }},
		{"it runs a tool on entry", func(p *domain.Policy) { p.Scenarios[0].Steps[0].ToolsOnEntry = []string{"lookup"} }},
		{"its transition also has a condition", func(p *domain.Policy) {
			p.Scenarios[0].Steps[0].Transitions[0].Condition = "go on to the reason"
		}},
		{"two guards hold at one priority", func(p *domain.Policy) {
			st := &p.Scenarios[0].Steps[0]
			st.Transitions = append(st.Transitions, domain.Transition{To: "confirm", When: "vars.order_id != nil"})
		}},
		{"its guard leads back to it", func(p *domain.Policy) { p.Scenarios[0].Steps[0].Transitions[0].To = "ask_order" }},
		{"it collects nothing", func(p *domain.Policy) {
			p.Scenarios[0].Steps[0].Collects = nil
			p.Scenarios[0].Steps[0].Transitions[0].When = "true"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := returnsPolicy()
			tc.change(p)
			h := newHarness(t, p, newFakeModel(), withTools(newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"item_name": "coat"}})))
			r := h.run(start)
			require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
			assert.Empty(t, r.exp().Scenario.Passed)
			assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
		})
	}
	t.Run("its value was held before the turn", func(t *testing.T) {
		h := newHarness(t, returnsPolicy(), newFakeModel())
		h.run("I want to return my jacket")
		h.run("AC-111111")
		require.Nil(t, h.run("torn").Session.Scenario, "the first return is done")
		r := h.run("I want to return my scarf too") // on_start keep: the order and reason stay
		assert.Equal(t, "AC-111111", r.Session.Variables["order_id"])
		assert.Empty(t, r.exp().Scenario.Passed, "a second return is asked for its order")
		assert.Equal(t, "ask_order", r.Session.Scenario.StepID)

		h = newHarness(t, metadataOrderPolicy(), newFakeModel())
		h.meta = map[string]any{"order": "AC-111111"}
		h.run("hello")
		h.meta = nil
		r = h.run("I want to return my jacket")
		assert.Equal(t, "AC-111111", r.Session.Variables["order_id"], "sent in an earlier turn's metadata")
		assert.Empty(t, r.exp().Scenario.Passed)
	})
	t.Run("the higher priority of two guards is taken", func(t *testing.T) {
		p := returnsPolicy()
		st := &p.Scenarios[0].Steps[0]
		st.Transitions = append(st.Transitions, domain.Transition{To: "confirm", When: "vars.order_id != nil", Priority: 5})
		r := newHarness(t, p, newFakeModel()).run(start)
		assert.Equal(t, "confirm", r.exp().Scenario.After.Step)
	})
	t.Run("its target was passed this turn", func(t *testing.T) {
		p := returnsPolicy()
		st := &p.Scenarios[0].Steps[1]
		st.Collects = []string{"order_id"}
		st.Transitions = []domain.Transition{{To: "ask_order", When: "vars.order_id != nil"}}
		r := newHarness(t, p, newFakeModel()).run(start)
		assert.Equal(t, []string{"ask_order"}, r.exp().Scenario.Passed, "once round, not on for ever")
		assert.Equal(t, "ask_reason", r.exp().Scenario.After.Step)
	})
	t.Run("its target was entered as often as max_step_visits allows", func(t *testing.T) {
		p := returnsPolicy()
		p.Agent.Settings.MaxStepVisits = 3
		st := &p.Scenarios[0].Steps[1]
		st.Transitions = []domain.Transition{
			{To: "ask_reason", Condition: "say it again", Examples: []string{"say that again", "repeat please"}},
			{To: "ask_order", Condition: "a different order", Examples: []string{"wrong order, another one"}}}
		h := newHarness(t, p, newFakeModel())
		require.Equal(t, []string{"ask_order"}, h.run(start).exp().Scenario.Passed)
		for range 2 {
			require.Equal(t, "ask_reason", h.run("repeat please").Session.Scenario.StepID)
		}
		r := h.run("wrong order, another one")
		require.Equal(t, domain.ScenarioAdvance, r.exp().Scenario.Action, r.exp().Scenario.Reason)
		assert.Empty(t, r.exp().Scenario.Passed, "ask_reason entered 3 times: navigation's loop exit decides on the next message")
		assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
	})
}
