package domain_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

func TestValidateAcceptsAValidPolicy(t *testing.T) {
	require.Empty(t, shopPolicy().Validate())
}

func ptr[T any](v T) *T { return &v }

// TestValidateReportsEachErrorWithItsFieldPath changes one thing in a valid
// policy and expects exactly the listed fields to be reported, the first
// with a message containing msg.
func TestValidateReportsEachErrorWithItsFieldPath(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *domain.Policy)
		fields []string
		msg    string
	}{
		// ids
		{"duplicate rule id", func(p *domain.Policy) { p.Rules[1].ID = "r_refund" }, []string{"rules[1].id"}, "duplicate id r_refund"},
		{"duplicate template id", func(p *domain.Policy) { p.Templates[1].ID = "t_hello" }, []string{"templates[1].id"}, "duplicate id t_hello"},
		{"duplicate scenario id", func(p *domain.Policy) { p.Scenarios[1].ID = "returns" }, []string{"scenarios[1].id"}, "duplicate id returns"},
		{"duplicate step id", func(p *domain.Policy) { p.Scenarios[0].Steps = append(p.Scenarios[0].Steps, domain.Step{ID: "done"}) },
			[]string{"scenarios[0].steps[3].id"}, "duplicate id done"},
		{"duplicate tool id", func(p *domain.Policy) { p.Tools = append(p.Tools, p.Tools[0]) }, []string{"tools[1].id"}, "duplicate id tool_order"},
		{"space in agent id", func(p *domain.Policy) { p.Agent.ID = "shop agent" }, []string{"agent.id"}, "letters, digits"},
		{"empty agent id", func(p *domain.Policy) { p.Agent.ID = "" }, []string{"agent.id"}, "1..128"},
		{"id starting with underscore", func(p *domain.Policy) { p.Rules[1].ID = "_hours" }, []string{"rules[1].id"}, "letters, digits"},
		{"slash in rule id", func(p *domain.Policy) { p.Rules[1].ID = "a/b" }, []string{"rules[1].id"}, "letters, digits"},
		{"id too long", func(p *domain.Policy) { p.Rules[1].ID = strings.Repeat("r", 129) }, []string{"rules[1].id"}, "1..128"},
		// references
		{"unknown rule template", func(p *domain.Policy) { p.Rules[0].TemplateIDs = []string{"t_hello", "nope"} },
			[]string{"rules[0].template_ids[1]"}, "unknown template nope"},
		{"unknown step template", func(p *domain.Policy) { p.Scenarios[0].Steps[1].TemplateIDs = []string{"nope"} },
			[]string{"scenarios[0].steps[1].template_ids[0]"}, "unknown template nope"},
		{"unknown tool", func(p *domain.Policy) { p.Rules[0].ToolIDs = []string{"nope"} }, []string{"rules[0].tool_ids[0]"}, "unknown tool nope"},
		{"unknown rule in step rule_ids", func(p *domain.Policy) { p.Scenarios[0].Steps[0].RuleIDs = []string{"r_listed", "nope"} },
			[]string{"scenarios[0].steps[0].rule_ids[1]"}, "unknown rule nope"},
		// scopes
		{"step scope without scenario", func(p *domain.Policy) { p.Rules[3].ScopeID = "label" }, []string{"rules[3].scope_id"}, "<scenario_id>/<step_id>"},
		{"step scope to unknown step", func(p *domain.Policy) { p.Rules[3].ScopeID = "returns/nope" }, []string{"rules[3].scope_id"}, "<scenario_id>/<step_id>"},
		{"step scope to another scenario's step", func(p *domain.Policy) { p.Rules[3].ScopeID = "support/label" }, []string{"rules[3].scope_id"}, "<scenario_id>/<step_id>"},
		{"scenario scope to unknown scenario", func(p *domain.Policy) { p.Rules[2].ScopeID = "nope" }, []string{"rules[2].scope_id"}, "must name a scenario"},
		{"global rule with scope id", func(p *domain.Policy) { p.Rules[1].ScopeID = "returns" }, []string{"rules[1].scope_id"}, "must be empty"},
		{"unknown scope", func(p *domain.Policy) { p.Rules[1].Scope = "session" }, []string{"rules[1].scope"}, "global, scenario, step"},
		// scenarios
		{"entry step missing", func(p *domain.Policy) { p.Scenarios[0].EntryStepID = "nope" }, []string{"scenarios[0].entry_step_id"}, "must name one of"},
		{"scenario without steps", func(p *domain.Policy) { p.Scenarios[1].Steps = nil },
			[]string{"scenarios[1].steps", "scenarios[1].entry_step_id"}, "at least one step"},
		{"transition to unknown step", func(p *domain.Policy) { p.Scenarios[0].Steps[1].Transitions[0].To = "nowhere" },
			[]string{"scenarios[0].steps[1].transitions[0].to"}, "unknown step nowhere"},
		{"blank transition condition", func(p *domain.Policy) { p.Scenarios[0].Steps[1].Transitions[0].Condition = "  " },
			[]string{"scenarios[0].steps[1].transitions[0].condition"}, "1..32768"},
		{"transition priority out of range", func(p *domain.Policy) { p.Scenarios[0].Steps[0].Transitions[1].Priority = -101 },
			[]string{"scenarios[0].steps[0].transitions[1].priority"}, "between -100 and 100"},
		{"empty entry condition", func(p *domain.Policy) { p.Scenarios[1].EntryCondition = "" }, []string{"scenarios[1].entry_condition"}, "1..32768"},
		{"unknown on_start", func(p *domain.Policy) { p.Scenarios[1].OnStart = "reset" }, []string{"scenarios[1].on_start"}, "must be one of keep, clear"},
		// rules
		{"constraints on a non-hard rule", func(p *domain.Policy) { p.Rules[0].Hard = false }, []string{"rules[0].hard"}, "must be true"},
		{"invalid regex", func(p *domain.Policy) { p.Rules[8].Constraints[0].Value = "(oops" },
			[]string{"rules[8].constraints[0]"}, "not a valid regular expression"},
		{"unknown constraint kind", func(p *domain.Policy) { p.Rules[0].Constraints[0].Kind = "forbid_word" },
			[]string{"rules[0].constraints[0]"}, "kind must be one of"},
		{"blank constraint value", func(p *domain.Policy) { p.Rules[0].Constraints[0].Value = " \n" },
			[]string{"rules[0].constraints[0]"}, "value must not be empty"},
		{"blank rule condition", func(p *domain.Policy) { p.Rules[1].Condition = "   " }, []string{"rules[1].condition"}, "1..32768"},
		{"rule condition too long", func(p *domain.Policy) { p.Rules[1].Condition = strings.Repeat("x", 32769) }, []string{"rules[1].condition"}, "1..32768"},
		{"invalid UTF-8 action", func(p *domain.Policy) { p.Rules[1].Action = "bad \xff byte" }, []string{"rules[1].action"}, "characters"},
		{"rule priority out of range", func(p *domain.Policy) { p.Rules[0].Priority = 101 }, []string{"rules[0].priority"}, "between -100 and 100"},
		{"negative max fires", func(p *domain.Policy) { p.Rules[1].MaxFiresPerSession = -1 }, []string{"rules[1].max_fires_per_session"}, "negative"},
		{"negative cooldown", func(p *domain.Policy) { p.Rules[1].CooldownTurns = -1 }, []string{"rules[1].cooldown_turns"}, "negative"},
		// templates
		{"template with bad placeholder", func(p *domain.Policy) { p.Templates[0].Text = "Hello {first name}" }, []string{"templates[0].text"}, "invalid placeholder"},
		{"template with unmatched brace", func(p *domain.Policy) { p.Templates[0].Text = "Hello }" }, []string{"templates[0].text"}, "unmatched"},
		{"empty template", func(p *domain.Policy) { p.Templates[0].Text = "" }, []string{"templates[0].text"}, "1..20000"},
		{"bad template mode", func(p *domain.Policy) { p.Templates[0].Mode = "verbatim" }, []string{"templates[0].mode"}, "exclusive, suggest, fallback"},
		// tools
		{"tool URL not http", func(p *domain.Policy) { p.Tools[0].URL = "ftp://tools.example.com/order" }, []string{"tools[0].url"}, "http or https"},
		{"tool URL without scheme", func(p *domain.Policy) { p.Tools[0].URL = "tools.example.com/order" }, []string{"tools[0].url"}, "http or https"},
		{"tool timeout too long", func(p *domain.Policy) { p.Tools[0].TimeoutMS = 120001 }, []string{"tools[0].timeout_ms"}, "0..120000"},
		// agent
		{"empty agent name", func(p *domain.Policy) { p.Agent.Name = " " }, []string{"agent.name"}, "1..200"},
		{"match threshold over 1", func(p *domain.Policy) { p.Agent.Settings.MatchThreshold = 1.5 }, []string{"agent.settings.match_threshold"}, "between 0 and 1"},
		{"negative semantic weight", func(p *domain.Policy) { p.Agent.Settings.SemanticWeight = ptr(-0.1) }, []string{"agent.settings.semantic_weight"}, "between 0 and 1"},
		{"entry threshold over 1", func(p *domain.Policy) { p.Agent.Settings.ScenarioEntryThreshold = 2 }, []string{"agent.settings.scenario_entry_threshold"}, "between 0 and 1"},
		{"negative transition threshold", func(p *domain.Policy) { p.Agent.Settings.TransitionThreshold = -1 }, []string{"agent.settings.transition_threshold"}, "between 0 and 1"},
		{"margin over 1", func(p *domain.Policy) { p.Agent.Settings.TransitionMargin = ptr(1.1) }, []string{"agent.settings.transition_margin"}, "between 0 and 1"},
		{"history turns over 100", func(p *domain.Policy) { p.Agent.Settings.HistoryTurns = ptr(101) }, []string{"agent.settings.history_turns"}, "0..100"},
		{"top k over 50", func(p *domain.Policy) { p.Agent.Settings.TopK = 51 }, []string{"agent.settings.top_k"}, "0..50"},
		{"max regenerations over 5", func(p *domain.Policy) { p.Agent.Settings.MaxRegenerations = ptr(6) }, []string{"agent.settings.max_regenerations"}, "0..5"},
		{"temperature over 2", func(p *domain.Policy) { p.Agent.Settings.Temperature = ptr(2.5) }, []string{"agent.settings.temperature"}, "0..2"},
		{"negative max tokens", func(p *domain.Policy) { p.Agent.Settings.MaxTokens = -1 }, []string{"agent.settings.max_tokens"}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := shopPolicy()
			tt.mutate(p)
			errs := p.Validate()
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
			}
			require.ElementsMatch(t, tt.fields, fields, "errors: %v", errs)
			i := slices.IndexFunc(errs, func(e domain.FieldError) bool { return e.Field == tt.fields[0] })
			require.Contains(t, errs[i].Message, tt.msg)
		})
	}
}

func TestValidateAcceptsSettingBoundaries(t *testing.T) {
	p := shopPolicy()
	p.Agent.Settings = domain.AgentSettings{
		MatchThreshold: 1, SemanticWeight: ptr(1.0), ScenarioEntryThreshold: 1, TransitionThreshold: 1, TransitionMargin: ptr(1.0),
		HistoryTurns: ptr(100), TopK: 50, MaxRegenerations: ptr(0), Temperature: ptr(2.0),
	}
	p.Tools[0].URL = "http://localhost:8080/hook"
	p.Tools[0].TimeoutMS = 120000
	p.Rules[0].Priority = -100
	require.Empty(t, p.Validate())
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	p := shopPolicy()
	p.Agent.ID = ""
	p.Rules[0].ToolIDs = []string{"nope"}
	p.Templates[3].Mode = "x"
	require.Len(t, p.Validate(), 3)
}
