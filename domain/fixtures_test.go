package domain_test

import "focal/domain"

// shopPolicy returns a valid policy exercising every scope, template mode
// and reference kind. Each call returns a fresh copy, so tests may mutate it.
func shopPolicy() *domain.Policy {
	return &domain.Policy{
		Agent: domain.Agent{ID: "shop", Name: "Shop assistant", Enabled: true, SystemPrompt: "Be kind."},
		Templates: []domain.Template{
			{ID: "t_hello", Text: "Hello {name}, your order {order.id} is on its way.", Mode: domain.ModeSuggest},
			{ID: "t_fb1", Text: "Sorry {name}, I cannot promise that.", Mode: domain.ModeFallback},
			{ID: "t_fb2", Text: "A second fallback.", Mode: domain.ModeFallback},
			{ID: "t_hours", Text: "We open 9 to 5.", Mode: domain.ModeExclusive},
		},
		Tools: []domain.Tool{
			{ID: "tool_order", URL: "https://tools.example.com/order", TimeoutMS: 2000},
		},
		Scenarios: []domain.Scenario{
			{
				ID:             "returns",
				EntryCondition: "customer wants to return an item; send the product back",
				EntryExamples:  []string{"I want to return an item", "I'd like to send this back", "how do I return my shoes", "can I return the jacket I bought"},
				ExitCondition:  "never mind; forget it",
				ExitExamples:   []string{"cancel the return", "I'll keep it after all", "stop, I don't want to return it"},
				EntryStepID:    "ask_reason",
				Enabled:        true,
				Steps: []domain.Step{
					{
						ID: "ask_reason",
						Transitions: []domain.Transition{
							{To: "label", Condition: "item arrived damaged or broken",
								Examples: []string{"it was damaged", "the zip is broken", "it arrived torn", "the box was crushed and the item broken"}},
							{To: "done", Condition: "changed my mind",
								Examples: []string{"I just don't like it", "I changed my mind about it", "I decided I don't need it"}},
						},
						RuleIDs:     []string{"r_listed"},
						TemplateIDs: []string{"t_hello"},
					},
					{ID: "label", Transitions: []domain.Transition{{To: "done", Condition: "label received",
						Examples: []string{"I got the label", "the label arrived", "I have printed the label"}}}},
					{ID: "done", Terminal: true},
				},
			},
			{
				ID:             "support",
				EntryCondition: "technical problem with the app",
				EntryExamples:  []string{"the app keeps crashing", "I can't log in to the app", "the app won't open on my phone"},
				EntryStepID:    "triage",
				Enabled:        true,
				Steps:          []domain.Step{{ID: "triage", Terminal: true}},
			},
		},
		Rules: []domain.Rule{
			{
				ID: "r_refund", Condition: "refund policy; money back", Action: "Explain the refund policy.",
				Examples: []string{"what is your refund policy", "can I get my money back", "do you give refunds", "how do refunds work"},
				Scope:    domain.ScopeGlobal, Enabled: true, Hard: true, Priority: 10,
				Constraints: []domain.Constraint{{Kind: domain.ConstraintForbidPhrase, Value: "guaranteed refund"}},
				ToolIDs:     []string{"tool_order"}, TemplateIDs: []string{"t_hello"},
			},
			{ID: "r_hours", Condition: "store opening hours", Action: "Give the hours.", Scope: domain.ScopeGlobal, Enabled: true, TemplateIDs: []string{"t_hours"},
				Examples: []string{"when do you open", "what are your opening hours", "are you open on sunday", "what time does the store close"}},
			{ID: "r_scn", Condition: "return shipping cost", Action: "Returns are free.", Scope: domain.ScopeScenario, ScopeID: "returns", Enabled: true},
			{ID: "r_step", Condition: "print label", Action: "Explain printing.", Scope: domain.ScopeStep, ScopeID: "returns/label", Enabled: true},
			{ID: "r_listed", Condition: "damaged packaging", Action: "Ask for a photo.", Scope: domain.ScopeStep, ScopeID: "returns/label", Enabled: true},
			{
				ID: "r_hard_disabled", Condition: "discount", Action: "No discounts.", Scope: domain.ScopeGlobal, Hard: true,
				Constraints: []domain.Constraint{{Kind: domain.ConstraintForbidPhrase, Value: "50% off"}},
			},
			{ID: "r_hard_bare", Condition: "legal advice", Action: "Decline.", Scope: domain.ScopeGlobal, Enabled: true, Hard: true,
				Examples: []string{"can you give me legal advice", "should I sue the courier", "is this legal"}},
			{
				ID: "r_hard_scn", Condition: "return window", Action: "30 days.", Scope: domain.ScopeScenario, ScopeID: "returns", Enabled: true, Hard: true,
				Constraints: []domain.Constraint{{Kind: domain.ConstraintRequirePhrase, Value: "30 days"}},
			},
			{
				ID: "r_hard_global", Condition: "card number", Action: "Never echo cards.", Scope: domain.ScopeGlobal, Enabled: true, Hard: true,
				Constraints: []domain.Constraint{{Kind: domain.ConstraintForbidPattern, Value: `\d{4} \d{4}`}},
			},
		},
	}
}
