package alignment

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// orderPolicy has one scenario: pick → pay → done (terminal), with a
// detour pick → help and a way back pay → pick.
func orderPolicy() *domain.Policy {
	p := testPolicy(globalRule("greet", "hello", "Greet back.", "hello", "hi there", "good morning"),
		globalRule("hours", "opening hours", "Give the hours.", "when do you open", "what are your opening hours"))
	change := domain.Transition{To: "pick", Condition: "change product",
		Examples: []string{"I want a different product", "let me pick something else", "change the product"}}
	p.Scenarios = []domain.Scenario{{
		ID: "order", Name: "Ordering", EntryCondition: "place order", EntryStepID: "pick", Enabled: true,
		EntryExamples: []string{"I want to place an order", "I'd like to order a jacket", "can I buy this online"},
		ExitCondition: "stop ordering", ExitExamples: []string{"stop ordering", "cancel my order, I don't want anything"},
		Steps: []domain.Step{
			{ID: "pick", Name: "Pick", Instructions: "INSTR-PICK", Transitions: []domain.Transition{
				{To: "pay", Condition: "checkout payment", Examples: []string{"checkout and pay", "I'm ready to pay"}},
				{To: "help", Condition: "checkout question", Examples: []string{"checkout question", "how does checkout work"}},
			}},
			{ID: "help", Instructions: "INSTR-HELP", Transitions: []domain.Transition{change}},
			{ID: "pay", Instructions: "INSTR-PAY", Transitions: []domain.Transition{
				change,
				{To: "done", Condition: "confirm purchase", Examples: []string{"yes, confirm the purchase", "buy it now"}},
			}},
			{ID: "done", Instructions: "INSTR-DONE", Terminal: true},
		},
	}}
	return p
}

// position is the session's scenario position as "scenario/step", or "".
func position(s *domain.Session) string {
	if s.Scenario == nil {
		return ""
	}
	return s.Scenario.ScenarioID + "/" + s.Scenario.StepID
}

func TestScenarioStartsOnlyOverEntryThreshold(t *testing.T) {
	p := orderPolicy()
	p.Agent.Settings.ScenarioEntryThreshold = 0.8
	h := newHarness(t, p, newFakeModel(say("Hi.")))

	for _, msg := range []string{"hello", "what are your opening hours"} {
		r := h.run(msg)
		assert.Equal(t, domain.ScenarioNone, r.exp().Scenario.Action, "%q must not start the scenario", msg)
		assert.Contains(t, r.exp().Scenario.Reason, "threshold")
		assert.Nil(t, r.Session.Scenario)
	}
	r := h.run("I want to place an order")
	d := r.exp().Scenario
	require.NotEmpty(t, d.Options)
	assert.Equal(t, domain.ScenarioOption{Move: domain.MoveStart, Target: "order", Score: d.Score, Lexical: d.Score,
		Example: "I want to place an order"}, d.Options[0], "the option taken explains the score")
	assert.Equal(t, domain.ScenarioStart, d.Action)
	assert.Equal(t, &domain.ScenarioRef{ID: "order", Step: "pick"}, d.After)
	assert.GreaterOrEqual(t, d.Score, 0.8)
	assert.Equal(t, "order/pick", position(r.Session))
	assert.Equal(t, 3, r.Session.Scenario.StartedTurn)
	assert.Contains(t, systemMessage(h.model.request(2)), "INSTR-PICK", "the entry step instructs the starting turn")
}

func TestScenarioAdvancesAlongBestTransition(t *testing.T) {
	h := newHarness(t, orderPolicy(), newFakeModel(say("Okay.")))
	h.run("place order")
	r := h.run("checkout payment")
	d := r.exp().Scenario
	assert.Equal(t, domain.ScenarioAdvance, d.Action)
	assert.Equal(t, &domain.ScenarioRef{ID: "order", Step: "pick"}, d.Before)
	assert.Equal(t, &domain.ScenarioRef{ID: "order", Step: "pay"}, d.After)
	require.NotNil(t, d.Transition)
	assert.Equal(t, "pay", d.Transition.To)
	assert.Equal(t, "order/pay", position(r.Session))
	assert.Equal(t, map[string]int{"pick": 1, "pay": 1}, r.Session.Scenario.StepVisits)
	assert.Contains(t, systemMessage(h.model.request(1)), "INSTR-PAY")

	r = h.run("what colours are there")
	assert.Equal(t, domain.ScenarioStay, r.exp().Scenario.Action)
	assert.Equal(t, "order/pay", position(r.Session))
}

func TestScenarioTransitionMarginAndPriority(t *testing.T) {
	for _, tc := range []struct {
		name         string
		helpPriority int
		action, at   string
	}{
		{"equal scores and priorities are ambiguous: stay", 0, domain.ScenarioStay, "order/pick"},
		{"within the margin priority decides", 5, domain.ScenarioAdvance, "order/help"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := orderPolicy()
			p.Scenarios[0].Steps[0].Transitions[1].Priority = tc.helpPriority
			p.Agent.Settings.TransitionThreshold = 0.3 // a bare "checkout" says little
			h := newHarness(t, p, newFakeModel(say("Okay.")))
			h.run("place order")
			r := h.run("checkout") // scores both transitions alike
			require.Len(t, r.exp().Scenario.Options, 4, "two transitions, the exit and staying")
			a, b := r.exp().Scenario.Options[0], r.exp().Scenario.Options[1]
			require.Equal(t, domain.MoveAdvance, b.Move, "precondition: the two transitions lead: %+v", r.exp().Scenario.Options)
			require.InDelta(t, a.Score, b.Score, 0.05, "precondition: within the margin")
			require.Greater(t, b.Score, 0.3, "precondition: both clear the threshold")
			assert.Equal(t, tc.action, r.exp().Scenario.Action, r.exp().Scenario.Reason)
			assert.Equal(t, tc.at, position(r.Session))
			if tc.action == domain.ScenarioStay {
				assert.Contains(t, r.exp().Scenario.Reason, "ambiguous")
			}
		})
	}
}

func TestScenarioExitCondition(t *testing.T) {
	h := newHarness(t, orderPolicy(), newFakeModel(say("Okay.")))
	h.run("place order")
	r := h.run("stop ordering")
	assert.Equal(t, domain.ScenarioExit, r.exp().Scenario.Action)
	assert.Nil(t, r.exp().Scenario.After)
	assert.Nil(t, r.Session.Scenario)
	assert.NotContains(t, systemMessage(h.model.request(1)), "INSTR-PICK")
}

func TestScenarioLoopExitAfterMaxStepVisits(t *testing.T) {
	p := orderPolicy()
	p.Agent.Settings.MaxStepVisits = 2
	h := newHarness(t, p, newFakeModel(say("Okay.")))
	script := []struct{ msg, action, at string }{
		{"place order", domain.ScenarioStart, "order/pick"},
		{"checkout payment", domain.ScenarioAdvance, "order/pay"},
		{"change product", domain.ScenarioAdvance, "order/pick"},
		{"checkout payment", domain.ScenarioAdvance, "order/pay"},
		{"change product", domain.ScenarioLoopExit, ""}, // pick would be entered a third time
	}
	for i, s := range script {
		r := h.run(s.msg)
		assert.Equal(t, s.action, r.exp().Scenario.Action, "turn %d: %s", i+1, r.exp().Scenario.Reason)
		assert.Equal(t, s.at, position(r.Session), "turn %d", i+1)
	}
	assert.Len(t, h.session.VisitHistory, 4)
}

func TestScenarioTerminalStepAnswersThenEnds(t *testing.T) {
	h := newHarness(t, orderPolicy(), newFakeModel(say("Thank you for your purchase!")))
	h.run("place order")
	h.run("checkout payment")
	before := h.session.Clone()
	r := h.run("confirm purchase")

	d := r.exp().Scenario
	assert.Equal(t, domain.ScenarioAdvance, d.Action)
	assert.Equal(t, &domain.ScenarioRef{ID: "order", Step: "done"}, d.After)
	assert.Contains(t, d.Reason, "terminal")
	assert.Contains(t, systemMessage(h.model.request(2)), "INSTR-DONE", "the terminal step answers this turn")
	assert.Equal(t, "Thank you for your purchase!", r.Response)
	assert.Nil(t, r.Session.Scenario, "the scenario ends after the terminal step answered")
	assert.Equal(t, domain.StepVisit{ScenarioID: "order", StepID: "done", Turn: 3},
		r.Session.VisitHistory[len(r.Session.VisitHistory)-1])
	assert.Equal(t, "order/pay", position(before), "the input session is not modified")

	r = h.run("confirm purchase")
	assert.Equal(t, domain.ScenarioNone, r.exp().Scenario.Action)
}

func TestScenarioVisitHistoryCappedAt100(t *testing.T) {
	h := newHarness(t, orderPolicy(), newFakeModel(say("Okay.")))
	for i := range domain.MaxVisitHistory {
		h.session.VisitHistory = append(h.session.VisitHistory,
			domain.StepVisit{ScenarioID: "old", StepID: fmt.Sprint(i), Turn: i})
	}
	r := h.run("place order")
	r2 := h.run("checkout payment")

	require.Len(t, r.Session.VisitHistory, domain.MaxVisitHistory)
	got := r2.Session.VisitHistory
	require.Len(t, got, domain.MaxVisitHistory)
	assert.Equal(t, "2", got[0].StepID, "the oldest visits are dropped")
	assert.Equal(t, domain.StepVisit{ScenarioID: "order", StepID: "pick", Turn: 1}, got[98])
	assert.Equal(t, domain.StepVisit{ScenarioID: "order", StepID: "pay", Turn: 2}, got[99])
}

func TestScenarioStepExclusiveTemplate(t *testing.T) {
	p := orderPolicy()
	p.Templates = []domain.Template{tpl("welcome", domain.ModeExclusive, "Welcome to ordering with {agent_name}.")}
	p.Scenarios[0].Steps[0].TemplateIDs = []string{"welcome"}
	m := newFakeModel(say("Model answer."))
	h := newHarness(t, p, m)

	r := h.run("place order")
	assert.Equal(t, "Welcome to ordering with Ada.", r.Response, "entering the step answers with its template")
	r = h.run("something unrelated")
	assert.Equal(t, "Welcome to ordering with Ada.", r.Response, "no rule matched: the step's template speaks")
	assert.Equal(t, 0, m.calls())
	r = h.run("hello")
	assert.Equal(t, "Model answer.", r.Response, "a matched rule without a template lets the model answer")
	assert.Equal(t, 1, m.calls())
}

func TestScenarioRemovedFromPolicyExitsTheSession(t *testing.T) {
	h := newHarness(t, orderPolicy(), newFakeModel(say("Okay.")))
	h.run("place order")
	changed := orderPolicy()
	changed.Agent.Version = 2
	changed.Scenarios = nil
	h.policy = changed
	r := h.run("checkout payment")
	assert.Equal(t, domain.ScenarioExit, r.exp().Scenario.Action)
	assert.Contains(t, r.exp().Scenario.Reason, "no longer exists")
	assert.Nil(t, r.Session.Scenario)
}

// pickupPolicy's step asks a yes-or-no question in its instructions.
func pickupPolicy(instructions string) *domain.Policy {
	p := orderPolicy()
	p.Scenarios = []domain.Scenario{{ID: "pickup", EntryCondition: "send a parcel back", EntryStepID: "offer", Enabled: true,
		EntryExamples: []string{"I need to send a parcel back", "how do I post my return", "I want to send the item back to you"},
		Steps: []domain.Step{
			{ID: "offer", Instructions: instructions, Transitions: []domain.Transition{
				{To: "booked", Condition: "book the courier", Examples: []string{"please send the courier tomorrow morning",
					"collect the parcel from my house", "book the courier pickup"}},
				{To: "dropoff", Condition: "drop it off", Examples: []string{"I'll drop it at the post office", "I'd rather take it to a shop myself"}},
			}},
			{ID: "booked", Terminal: true}, {ID: "dropoff", Terminal: true},
		}}}
	return p
}

// A short reply is read with what the agent asked: the step's instructions
// and the previous reply.
func TestScenarioShortRepliesAreReadWithTheQuestion(t *testing.T) {
	asked := "Ask whether the courier should collect the parcel from the customer's house tomorrow morning."
	for _, tc := range []struct {
		name, instructions, reply string
		at                        string
	}{
		{"without the question a bare yes says nothing", "", "", "pickup/offer"},
		{"the step's instructions", asked, "", "pickup/booked"},
		{"the previous reply", "", "Shall our courier collect the parcel from your house tomorrow morning?", "pickup/booked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, pickupPolicy(tc.instructions), newFakeModel(say(tc.reply)))
			r := h.run("I need to send a parcel back")
			require.Equal(t, "pickup/offer", position(r.Session))
			r = h.run("yes please")
			after := r.exp().Scenario.After
			require.NotNil(t, after)
			assert.Equal(t, tc.at, after.ID+"/"+after.Step, "%+v", r.exp().Scenario.Options)
			assert.Equal(t, []string{"policy", "embedding", "context", "matching", "variables", "scenario", "retrieval", "tools", "generation"},
				stepNames(r.Timings), "what was asked is read before matching")
		})
	}
}
