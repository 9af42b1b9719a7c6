package alignment

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// docs/agent-bundle.md: each message of a flow's run is read ahead for
// the later steps' variables, and a step entered that the run already
// gave all it collects is passed: a reason said with the start of a
// return is not asked for again once the order number is given.
func TestRunGivesLaterStepsWhatItsMessagesSaid(t *testing.T) {
	t.Run("in the message that starts the flow", func(t *testing.T) {
		tools := newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"item_name": "blue jacket"}})
		h := newHarness(t, returnsPolicy(), newFakeModel(), withTools(tools))
		r := h.run("I want to return my jacket, it was too small")
		require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
		assert.Equal(t, "What is your order number, dear customer?", r.Response, "the order number only")
		assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
		x, _ := setBy(r.exp(), "reason")
		assert.Equal(t, domain.Extraction{Variable: "reason", Source: domain.SetByExtractor, Value: "wrong_size", Text: "too small"}, x)

		r = h.run("AC-123456")
		d := r.exp().Scenario
		require.Equal(t, domain.ScenarioAdvance, d.Action, d.Reason)
		assert.Equal(t, []string{"ask_reason"}, d.Passed)
		assert.Contains(t, d.Reason, "ask_reason holds what it collects (reason given in turn 1 of this run): passed on to confirm")
		assert.Equal(t, "Your blue jacket (order AC-123456) goes back.", r.Response, "never the reason's question")
		assert.Nil(t, r.Session.Scenario, "the terminal step answered")
	})
	t.Run("in a message at an earlier step", func(t *testing.T) {
		h := newHarness(t, returnsPolicy(), newFakeModel())
		h.run("I want to return my jacket")
		r := h.run("it has a torn sleeve, let me find the number")
		assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
		assert.Equal(t, "damaged", r.Session.Variables["reason"])
		r = h.run("AC-123456")
		assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed)
		assert.Contains(t, r.exp().Scenario.Reason, "(reason given in turn 2 of this run)")
		assert.Equal(t, "Order AC-123456 goes back.", r.Response)
	})
	t.Run("the step after still asks for what is missing", func(t *testing.T) {
		p := returnsPolicy()
		p.Scenarios[0].Steps = append(p.Scenarios[0].Steps, domain.Step{ID: "ask_email", TemplateIDs: []string{"tpl_ask_email"},
			Collects: []string{"email"}, Transitions: []domain.Transition{{To: "confirm", When: "vars.email != nil"}}})
		p.Scenarios[0].Steps[1].Transitions[0].To = "ask_email"
		p.Variables = append(p.Variables, domain.Variable{Name: "email", Type: domain.VarEmail, Description: "email address"})
		p.Templates = append(p.Templates, tpl("tpl_ask_email", domain.ModeExclusive, "Where do we send the label?"))
		h := newHarness(t, p, newFakeModel())
		h.run("I want to return my jacket, it was too small")
		r := h.run("AC-123456")
		assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed)
		assert.Equal(t, "ask_email", r.Session.Scenario.StepID)
		assert.Equal(t, "Where do we send the label?", r.Response)
	})
}

// A value read ahead is a value only: a message not asked for a later
// step's variable whose reading of it is refused (two reasons) offers
// nothing, so the turn records nothing of it and the later step asks
// plainly, not "the message gives more than one reason".
func TestRefusedReadingAheadIsNoProblemOfALaterStep(t *testing.T) {
	h := newHarness(t, returnsPolicy(), newFakeModel())
	r := h.run("I want to return my jacket, it was too small and torn")
	require.Equal(t, "ask_order", r.Session.Scenario.StepID)
	_, recorded := setBy(r.exp(), "reason")
	assert.False(t, recorded, "no reason recorded, nor its problem")
	assert.Nil(t, r.Session.Variables["reason"])

	r = h.run("AC-123456")
	require.Equal(t, "ask_reason", r.Session.Scenario.StepID)
	assert.Empty(t, r.exp().Scenario.Passed)
	assert.Empty(t, r.exp().Scenario.Reask)
	assert.Equal(t, "Why are you returning it?", r.Response)
}

// Only the kinds of values that say which variable they are are read
// ahead: a later step's date is not taken from "I got it yesterday", nor
// its number from the order number's digits.
func TestLooseKindsAreNotReadAhead(t *testing.T) {
	p := returnsPolicy()
	p.Variables = append(p.Variables, domain.Variable{Name: "items", Type: domain.VarNumber, Description: "number of items"})
	p.Scenarios[0].Steps[1].Collects = []string{"reason", "pickup", "items"}
	p.Scenarios[0].Steps[1].Transitions[0].When = "vars.reason != nil && vars.pickup != nil && vars.items != nil"
	h := newHarness(t, p, newFakeModel())
	r := h.run("I want to return the jacket I got yesterday, all 2 of them, it was torn")
	assert.Equal(t, "ask_order", r.Session.Scenario.StepID)
	assert.Equal(t, "damaged", r.Session.Variables["reason"], "an enum says which variable it is")
	assert.Nil(t, r.Session.Variables["pickup"])
	assert.Nil(t, r.Session.Variables["items"])
	r = h.run("AC-123456")
	assert.Empty(t, r.exp().Scenario.Passed)
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
}

// finishedReturn runs a return with on_start set to onStart, its reason
// said with its start, to its end, and starts another.
func finishedReturn(t *testing.T, onStart domain.StartMode, second string) (*harness, turnResult) {
	t.Helper()
	p := returnsPolicy()
	p.Scenarios[0].OnStart = onStart
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket, it was too small")
	require.Nil(t, h.run("AC-111111").Session.Scenario, "the first return is done")
	r := h.run(second)
	require.Equal(t, domain.ScenarioStart, r.exp().Scenario.Action, r.exp().Scenario.Reason)
	return h, r
}

// docs/agent-bundle.md: what an earlier run gave passes no step of the
// next: a second return asks its reason once, whether on_start keeps the
// first one's or clears it; a reason its own start gives passes the step
// where the reason is unset then (clear).
func TestSecondRunIsNotPassedOnTheFirstsValues(t *testing.T) {
	for _, onStart := range []domain.StartMode{domain.StartKeep, domain.StartClear} {
		t.Run(string(onStart), func(t *testing.T) {
			h, r := finishedReturn(t, onStart, "I want to return my scarf")
			assert.Equal(t, "What is your order number, dear customer?", r.Response)
			assert.Empty(t, r.Session.Scenario.Given, "the new run was given nothing")
			r = h.run("AC-222222")
			assert.Empty(t, r.exp().Scenario.Passed, "the first return's reason passes no step")
			require.Equal(t, "ask_reason", r.Session.Scenario.StepID)
			assert.Equal(t, "Why are you returning it?", r.Response)
			r = h.run("torn")
			assert.Nil(t, r.Session.Scenario, "asked once: the second return is done")
			assert.Equal(t, "damaged", r.Session.Variables["reason"])
		})
	}
	h, _ := finishedReturn(t, domain.StartClear, "I want to return my scarf, it is torn")
	r := h.run("AC-222222")
	assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed)
	assert.Equal(t, "damaged", r.Session.Variables["reason"])
}

// The run's position records what its turns gave, message or metadata,
// by the turn that last gave it; a value the customer replaces with a
// refused one is no longer given.
func TestRunRecordsWhatItWasGiven(t *testing.T) {
	p := returnsPolicy()
	// The order step moves on only when the customer says so.
	p.Scenarios[0].Steps[0].Transitions = []domain.Transition{{To: "ask_reason", Condition: "ready to give the reason",
		Examples: []string{"let's continue", "go on to the reason"}}}
	p.Scenarios[0].Steps[1].Collects = []string{"reason", "tier"}
	h := newHarness(t, p, newFakeModel())
	r := h.run("I want to return my jacket")
	assert.Nil(t, r.Session.Scenario.Given)
	h.meta = map[string]any{"tier": "gold"}
	r = h.run("it was torn")
	assert.Equal(t, map[string]int{"reason": 2, "tier": 2}, r.Session.Scenario.Given)
	h.meta = nil
	r = h.run("AC-111111")
	assert.Equal(t, map[string]int{"order_id": 3, "reason": 2, "tier": 2}, r.Session.Scenario.Given)
	r = h.run("no wait, AC-12345")
	assert.Nil(t, r.Session.Variables["order_id"], "the refused offer took the held value away")
	assert.Equal(t, map[string]int{"reason": 2, "tier": 2}, r.Session.Scenario.Given)
}

// A message that starts a flow from inside another may give what the
// waiting one's later steps collect: read ahead while the waiting one was
// the active one, it is noted in the waiting run too, so that once that
// flow resumes the step is passed as if the flow had never waited.
func TestWaitingRunKeepsWhatTheNestedStartGaveIt(t *testing.T) {
	p := returnsPolicy()
	p.Agent.Settings.Commands = []string{domain.CommandCancel}
	p.Scenarios = append(p.Scenarios, flowScenario("gift", false, "wrap it as a gift", "can you gift wrap it", "add a gift message"))
	p.Templates = append(p.Templates, tpl("tpl_gift", domain.ModeExclusive, "Gift wrap it is."))
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket")
	r := h.run("can you gift wrap it, it was too small")
	require.Equal(t, "gift", r.Session.Scenario.ScenarioID, r.exp().Scenario.Reason)
	require.Len(t, r.Session.FlowStack, 1)
	assert.Equal(t, map[string]int{"reason": 2}, r.Session.FlowStack[0].Given, "the waiting run was given the reason")
	assert.Empty(t, r.Session.Scenario.Given, "no step of the gift flow collects the reason")

	r = h.run("cancel")
	require.Equal(t, "returns", r.Session.Scenario.ScenarioID)
	r = h.run("AC-123456")
	assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed, r.exp().Scenario.Reason)
	assert.Contains(t, r.exp().Scenario.Reason, "(reason given in turn 2 of this run)")
}

// docs/agent-bundle.md: a value the run's own messages give, read ahead
// for a later step, replaces a changeable value held from before the run
// and counts as given in the run, so the step is passed when reached: a
// second return that names its reason with its start, or with its order
// number, is not asked for it again, nor goes through on the first one's.
// The same value said again counts as given too. A value that may not
// change keeps the one held, and its step still asks.
func TestReadAheadReplacesWhatWasHeldFromBeforeTheRun(t *testing.T) {
	t.Run("with the start", func(t *testing.T) {
		h, r := finishedReturn(t, domain.StartKeep, "I want to return my scarf, it is torn")
		assert.Equal(t, "damaged", r.Session.Variables["reason"], "the start's reason replaces the first return's")
		assert.Equal(t, map[string]int{"reason": 3}, r.Session.Scenario.Given)
		r = h.run("AC-222222")
		assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed, r.exp().Scenario.Reason)
		assert.Contains(t, r.exp().Scenario.Reason, "(reason given in turn 3 of this run)")
		assert.Nil(t, r.Session.Scenario, "the second return is done")
		assert.Equal(t, "damaged", r.Session.Variables["reason"])
	})
	t.Run("with the order number", func(t *testing.T) {
		h, _ := finishedReturn(t, domain.StartKeep, "I want to return my scarf")
		r := h.run("AC-222222, it is torn")
		assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed, r.exp().Scenario.Reason)
		assert.Nil(t, r.Session.Scenario)
		assert.Equal(t, "damaged", r.Session.Variables["reason"])
	})
	t.Run("the same value again", func(t *testing.T) {
		h, r := finishedReturn(t, domain.StartKeep, "I want to return my scarf, it was too tight")
		assert.Equal(t, map[string]int{"reason": 3}, r.Session.Scenario.Given)
		r = h.run("AC-222222")
		assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed, r.exp().Scenario.Reason)
	})
	t.Run("a value that may not change", func(t *testing.T) {
		p := returnsPolicy()
		p.Variables[1].Changeable = false
		h := newHarness(t, p, newFakeModel())
		h.run("I want to return my jacket, it was too small")
		require.Nil(t, h.run("AC-111111").Session.Scenario)
		r := h.run("I want to return my scarf, it is torn")
		assert.Equal(t, "wrong_size", r.Session.Variables["reason"], "kept, as the step would keep it")
		assert.Empty(t, r.Session.Scenario.Given)
		r = h.run("AC-222222")
		assert.Empty(t, r.exp().Scenario.Passed)
		assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
	})
}

// overwritingPolicy is the returns flow with a step for the email between
// the order and the reason, whose order step, once complete, looks the
// order up with a tool that also answers the order's reason.
func overwritingPolicy() *domain.Policy {
	p := returnsPolicy()
	sc := &p.Scenarios[0]
	sc.Steps[0].Transitions[0].To = "ask_email"
	sc.Steps[0].ToolsOnComplete = []string{"order_record"}
	sc.Steps = append(sc.Steps, domain.Step{ID: "ask_email", TemplateIDs: []string{"tpl_ask_email"},
		Collects: []string{"email"}, Transitions: []domain.Transition{{To: "ask_reason", When: "vars.email != nil"}}})
	p.Variables = append(p.Variables, domain.Variable{Name: "email", Type: domain.VarEmail, Description: "email address"})
	p.Templates = append(p.Templates, tpl("tpl_ask_email", domain.ModeExclusive, "Where do we send the label?"))
	p.Tools = append(p.Tools, domain.Tool{ID: "order_record", URL: "https://tools.example/record",
		Inputs: []string{"order_id"}, Outputs: []string{"reason"}})
	return p
}

// docs/agent-bundle.md: a value a tool overwrites is no longer the
// customer's: the run forgets it was given, and the step that collects it
// asks rather than pass on the tool's value. A tool that writes the value
// the customer gave leaves it given.
func TestToolOverwritingAGivenValueTakesItFromTheRun(t *testing.T) {
	for _, c := range []struct {
		name, written string
		passed        bool
	}{{"another value", "damaged", false}, {"the same value", "wrong_size", true}} {
		t.Run(c.name, func(t *testing.T) {
			tools := newFakeTools().on("order_record", toolBehaviour{out: map[string]any{"reason": c.written}})
			h := newHarness(t, overwritingPolicy(), newFakeModel(), withTools(tools))
			r := h.run("I want to return my jacket, it was too small")
			require.Equal(t, map[string]int{"reason": 1}, r.Session.Scenario.Given)
			r = h.run("AC-123456")
			require.Equal(t, "ask_email", r.Session.Scenario.StepID, r.exp().Scenario.Reason)
			assert.Equal(t, c.written, r.Session.Variables["reason"])
			_, given := r.Session.Scenario.Given["reason"]
			assert.Equal(t, c.passed, given)
			r = h.run("ana@example.com")
			if c.passed {
				assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed, r.exp().Scenario.Reason)
				return
			}
			assert.Empty(t, r.exp().Scenario.Passed, "the tool's reason is not the customer's")
			assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
			assert.Equal(t, "Why are you returning it?", r.Response)
		})
	}
}

// docs/agent-bundle.md: a value the run was given is the customer's
// answer in it: a later message that names another in passing is not
// read ahead over it, neither at the step the message answers nor at the
// step it moves the flow to; the step keeps passing on the answer given.
func TestRunsGivenValueIsNotReadAheadAgain(t *testing.T) {
	t.Run("at the step the message answers", func(t *testing.T) {
		h := newHarness(t, returnsPolicy(), newFakeModel())
		h.run("I want to return my jacket, it was too small")
		r := h.run("let me find the number, my scarf was torn too")
		require.Equal(t, "ask_order", r.Session.Scenario.StepID)
		assert.Equal(t, "wrong_size", r.Session.Variables["reason"])
		assert.Equal(t, map[string]int{"reason": 1}, r.Session.Scenario.Given)
	})
	t.Run("at the step the message enters", func(t *testing.T) {
		h := newHarness(t, returnsPolicy(), newFakeModel())
		h.run("I want to return my jacket, it was too small")
		r := h.run("AC-123456, unlike my scarf, which was torn")
		assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed, r.exp().Scenario.Reason)
		assert.Contains(t, r.exp().Scenario.Reason, "(reason given in turn 1 of this run)")
		assert.Equal(t, "wrong_size", r.Session.Variables["reason"])
	})
}

// A value this turn's metadata gave is this turn's: the message that
// starts the flow is not read ahead over it, and the run counts it given
// by the metadata, in that turn.
func TestMetadataOfTheTurnIsNotReadAheadOver(t *testing.T) {
	p := returnsPolicy()
	p.Variables[1].FromMetadata = "reason"
	h := newHarness(t, p, newFakeModel())
	h.meta = map[string]any{"reason": "wrong_size"}
	r := h.run("I want to return my jacket, it is torn")
	require.Equal(t, "ask_order", r.Session.Scenario.StepID)
	assert.Equal(t, "wrong_size", r.Session.Variables["reason"], "the metadata's, not the message's")
	assert.Equal(t, map[string]int{"reason": 1}, r.Session.Scenario.Given)
	h.meta = nil
	r = h.run("AC-123456")
	assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed, r.exp().Scenario.Reason)
	assert.Equal(t, "wrong_size", r.Session.Variables["reason"])
}

// Each message of a run is read ahead, one at a step that collects
// nothing (it is there to say something) too.
func TestMessageAtAStepCollectingNothingIsReadAhead(t *testing.T) {
	p := returnsPolicy()
	sc := &p.Scenarios[0]
	sc.EntryStepID = "explain"
	sc.Steps = append(sc.Steps, domain.Step{ID: "explain", TemplateIDs: []string{"tpl_explain"},
		Transitions: []domain.Transition{{To: "ask_order", Condition: "ready to give the order number",
			Examples: []string{"let's continue", "go on to the order number"}}}})
	p.Templates = append(p.Templates, tpl("tpl_explain", domain.ModeExclusive, "Returns are free within 30 days."))
	h := newHarness(t, p, newFakeModel())
	require.Equal(t, "explain", h.run("I want to return my jacket").Session.Scenario.StepID)
	r := h.run("it was too small")
	require.Equal(t, "explain", r.Session.Scenario.StepID, r.exp().Scenario.Reason)
	assert.Equal(t, "wrong_size", r.Session.Variables["reason"])
	assert.Equal(t, map[string]int{"reason": 2}, r.Session.Scenario.Given)
}

// A step passed on values earlier turns of the run gave names each of
// them, and the turn that gave it.
func TestPassedStepNamesEachValueAnEarlierTurnGave(t *testing.T) {
	p := returnsPolicy()
	st := &p.Scenarios[0].Steps[1]
	st.Collects = []string{"reason", "email"}
	st.Transitions[0].When = `vars.reason in ["wrong_size", "damaged"] && vars.email != nil`
	p.Variables = append(p.Variables, domain.Variable{Name: "email", Type: domain.VarEmail, Description: "email address"})
	h := newHarness(t, p, newFakeModel())
	h.run("I want to return my jacket, it was too small, write to ana@example.com")
	r := h.run("AC-123456")
	assert.Equal(t, []string{"ask_reason"}, r.exp().Scenario.Passed, r.exp().Scenario.Reason)
	assert.Contains(t, r.exp().Scenario.Reason,
		"ask_reason holds what it collects (reason given in turn 1, email given in turn 1 of this run): passed on to confirm")
}

// docs/agent-bundle.md: a tool's change takes a value out of every open
// run's given, a run waiting under the active flow included: the reason a
// nested flow's tool overwrote is asked for once the return resumes.
func TestToolOverwritingAWaitingRunsValueTakesItFromThatRun(t *testing.T) {
	p := returnsPolicy()
	p.Agent.Settings.Commands = []string{domain.CommandCancel}
	gift := flowScenario("gift", false, "wrap it as a gift", "can you gift wrap it", "add a gift message")
	gift.Steps[0].ToolsOnEntry = []string{"gift_record"}
	p.Scenarios = append(p.Scenarios, gift)
	p.Templates = append(p.Templates, tpl("tpl_gift", domain.ModeExclusive, "Gift wrap it is."))
	p.Tools = append(p.Tools, domain.Tool{ID: "gift_record", URL: "https://tools.example/gift", Outputs: []string{"reason"}})
	tools := newFakeTools().on("gift_record", toolBehaviour{out: map[string]any{"reason": "damaged"}})
	h := newHarness(t, p, newFakeModel(), withTools(tools))
	r := h.run("I want to return my jacket, it was too small")
	require.Equal(t, map[string]int{"reason": 1}, r.Session.Scenario.Given)
	r = h.run("can you gift wrap it")
	require.Equal(t, "gift", r.Session.Scenario.ScenarioID, r.exp().Scenario.Reason)
	require.Len(t, r.Session.FlowStack, 1)
	require.Equal(t, "damaged", r.Session.Variables["reason"], "the gift flow's tool wrote the reason")
	assert.Empty(t, r.Session.FlowStack[0].Given, "the waiting run no longer counts the reason given")

	require.Equal(t, "returns", h.run("cancel").Session.Scenario.ScenarioID)
	r = h.run("AC-123456")
	assert.Empty(t, r.exp().Scenario.Passed, "the tool's reason is not the customer's")
	assert.Equal(t, "ask_reason", r.Session.Scenario.StepID)
	assert.Equal(t, "Why are you returning it?", r.Response)
}

// At the step that asks for a changeable variable, the customer's answer
// replaces what the same turn's metadata gave it: the step asked the
// customer, and the record lists both, the metadata's first. One that may
// not change keeps the metadata's value, as it keeps any value held. Read
// ahead, the metadata's value stays (TestMetadataOfTheTurnIsNotReadAheadOver):
// nothing asked the customer for it (docs/agent-bundle.md).
func TestMessageAtTheStepReplacesTheTurnsMetadata(t *testing.T) {
	for _, c := range []struct {
		name       string
		changeable bool
		want       string
	}{{"changeable", true, "damaged"}, {"not changeable", false, "wrong_size"}} {
		t.Run(c.name, func(t *testing.T) {
			p := returnsPolicy()
			p.Variables[1].FromMetadata, p.Variables[1].Changeable = "reason", c.changeable
			h := newHarness(t, p, newFakeModel())
			h.run("I want to return my jacket")
			require.Equal(t, "ask_reason", h.run("AC-123456").Session.Scenario.StepID)
			h.meta = map[string]any{"reason": "wrong_size"}
			r := h.run("it is torn")
			assert.Equal(t, c.want, r.Session.Variables["reason"])
			var sources []domain.VariableSource
			for _, e := range r.exp().Variables {
				if e.Variable == "reason" {
					sources = append(sources, e.Source)
				}
			}
			want := []domain.VariableSource{domain.SetByMetadata}
			if c.changeable {
				want = append(want, domain.SetByExtractor)
			}
			assert.Equal(t, want, sources)
		})
	}
}
