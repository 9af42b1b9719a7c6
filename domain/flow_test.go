package domain

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Steps may only collect declared variables and call declared tools; the
// time zone and commands must be known ones, each named once. Each mistake
// names its field.
func TestFlowReferencesAreValidated(t *testing.T) {
	p := &Policy{
		Agent: Agent{ID: "a", Name: "A", Settings: AgentSettings{TimeZone: "Mars/Olympus", Commands: []string{"cancel", "undo", "cancel"}}},
		Scenarios: []Scenario{{ID: "s", EntryCondition: "start it", EntryStepID: "one", Enabled: true, Steps: []Step{
			{ID: "one", Collects: []string{"order_id"}, ToolsOnEntry: []string{"lookup"}, ToolsOnComplete: []string{"notify"}},
		}}},
	}
	fields := map[string]bool{}
	for _, e := range p.Validate() {
		fields[e.Field] = true
	}
	for _, f := range []string{"scenarios[0].steps[0].collects[0]", "scenarios[0].steps[0].tools_on_entry[0]",
		"scenarios[0].steps[0].tools_on_complete[0]", "agent.settings.time_zone", "agent.settings.commands[1]",
		"agent.settings.commands[2]"} {
		assert.True(t, fields[f], "expected an error at %s, got %v", f, fields)
	}
	assert.False(t, fields["agent.settings.commands[0]"])
}

// Commands are whole messages: a sentence that mentions one is a question.
func TestFlowCommandsAreWholeMessages(t *testing.T) {
	on := []string{CommandCancel, CommandHuman}
	for msg, want := range map[string]string{
		"cancel":                      CommandCancel,
		"Never mind.":                 CommandCancel,
		"please stop":                 CommandCancel,
		"human":                       CommandHuman,
		"I want to talk to a person!": CommandHuman,
		"can I speak to an agent?":    CommandHuman,
		"how do I cancel my order?":   "",
		"the human resources team":    "",
		"stop sending me emails":      "",
	} {
		assert.Equal(t, want, FlowCommand(msg, on), msg)
		assert.Empty(t, FlowCommand(msg, nil), "commands are off unless switched on: %s", msg)
		if want != "" {
			others := slices.DeleteFunc(slices.Clone(on), func(c string) bool { return c == want })
			assert.Empty(t, FlowCommand(msg, others), "only the commands switched on are read: %s", msg)
		}
	}
}

// A step still asks for a variable whose value is null (a tool may answer
// one): only a value collects it.
func TestStepMissesNullVariables(t *testing.T) {
	st := &Step{ID: "ask", Collects: []string{"order_id", "email", "reason"}}
	for _, tc := range []struct {
		vars    map[string]any
		missing []string
	}{
		{nil, []string{"order_id", "email", "reason"}},
		{map[string]any{"order_id": "AC-123456", "reason": nil}, []string{"email", "reason"}},
		{map[string]any{"order_id": "AC-123456", "email": "a@b.co", "reason": false}, nil},
	} {
		assert.Equal(t, tc.missing, st.Missing(tc.vars), "%v", tc.vars)
		assert.Equal(t, tc.missing != nil, st.Lacks(tc.vars), "%v", tc.vars)
	}
}
