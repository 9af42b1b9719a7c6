package domain

import (
	"encoding/json"
	"slices"
	"time"
)

// Agent is a configured conversational agent of one tenant. Its Version
// increases with every change to the agent or any of its policy parts.
type Agent struct {
	ID           string        `json:"id"`
	TenantID     string        `json:"tenant_id,omitempty"`
	Name         string        `json:"name"`
	Description  string        `json:"description,omitempty"`
	SystemPrompt string        `json:"system_prompt,omitempty"`
	Enabled      bool          `json:"enabled"`
	Version      int64         `json:"version"`
	Settings     AgentSettings `json:"settings"`
	CreatedAt    time.Time     `json:"created_at,omitzero"`
	UpdatedAt    time.Time     `json:"updated_at,omitzero"`
}

// UnmarshalJSON makes a missing "enabled" mean enabled.
func (a *Agent) UnmarshalJSON(b []byte) error {
	type plain Agent
	p := plain{Enabled: true}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*a = Agent(p)
	return nil
}

// AgentSettings tune the engine for one agent. Zero values mean "use the
// default"; WithDefaults fills them in.
type AgentSettings struct {
	// Model names the chat model; empty means the service's configured one.
	Model string `json:"model,omitempty"`
	// Temperature for generation; nil leaves it to the model.
	Temperature *float64 `json:"temperature,omitempty"`
	// MaxTokens caps the reply length; 0 leaves it to the model.
	MaxTokens int `json:"max_tokens,omitempty"`
	// HistoryTurns is how many of the newest earlier turns go into the
	// prompt; nil means the default, 0 means none.
	HistoryTurns *int `json:"history_turns,omitempty"`
	// RuleJudge asks the model once per turn which candidate rules apply.
	RuleJudge bool `json:"rule_judge,omitempty"`
	// MatchThreshold is the calibrated score (0..1, the probability that
	// a condition applies) a rule needs to match.
	MatchThreshold float64 `json:"match_threshold,omitempty"`
	// SemanticWeight no longer has an effect: the matcher calibrates the
	// embedding signal itself. Bundles that set it still import, with a
	// lint warning.
	SemanticWeight *float64 `json:"semantic_weight,omitempty" jsonschema:"description=Deprecated: no effect. The matcher calibrates the embedding signal itself."`
	// TopK is the most rules that can match one turn.
	TopK int `json:"top_k,omitempty"`
	// ScenarioEntryThreshold is the calibrated score an entry condition
	// needs to start a scenario, and an exit condition to leave it.
	ScenarioEntryThreshold float64 `json:"scenario_entry_threshold,omitempty"`
	// TransitionThreshold is the calibrated score a step transition needs
	// to be taken.
	TransitionThreshold float64 `json:"transition_threshold,omitempty"`
	// TransitionMargin is how far the best transition must lead the
	// runner-up; closer ones are told apart by priority. nil means the
	// default.
	TransitionMargin *float64 `json:"transition_margin,omitempty"`
	// MaxStepVisits is how often one step may be entered before the scenario is left as a loop.
	MaxStepVisits int `json:"max_step_visits,omitempty"`
	// MaxRegenerations is how often a violating reply is regenerated; nil means 1.
	MaxRegenerations *int `json:"max_regenerations,omitempty"`
	// RefusalMessage replaces the built-in polite refusal.
	RefusalMessage string `json:"refusal_message,omitempty"`
	// TimeZone is the agent's IANA time zone ("Europe/Paris"; default
	// UTC): relative dates and today are read on its calendar.
	TimeZone string `json:"time_zone,omitempty"`
	// Commands switches on built-in flow commands: "cancel" leaves the
	// current flow, "human" hands the conversation over to a person.
	Commands []string `json:"commands,omitempty"`
}

// Engine defaults for AgentSettings.
const (
	DefaultHistoryTurns           = 10
	DefaultMatchThreshold         = DefaultMatcherThreshold
	DefaultTopK                   = 5
	DefaultScenarioEntryThreshold = DefaultMatcherThreshold
	DefaultTransitionThreshold    = DefaultMatcherThreshold
	DefaultTransitionMargin       = 0.1
	DefaultMaxStepVisits          = 3
	DefaultMaxRegenerations       = 1
	DefaultRefusal                = "I'm sorry, I can't help with that here. Is there anything else I can do for you?"
)

// WithDefaults returns s with every unset field given its default.
func (s AgentSettings) WithDefaults() AgentSettings {
	s.HistoryTurns = orDefault(s.HistoryTurns, DefaultHistoryTurns)
	if s.MatchThreshold == 0 {
		s.MatchThreshold = DefaultMatchThreshold
	}
	if s.TopK == 0 {
		s.TopK = DefaultTopK
	}
	if s.ScenarioEntryThreshold == 0 {
		s.ScenarioEntryThreshold = DefaultScenarioEntryThreshold
	}
	if s.TransitionThreshold == 0 {
		s.TransitionThreshold = DefaultTransitionThreshold
	}
	s.TransitionMargin = orDefault(s.TransitionMargin, DefaultTransitionMargin)
	if s.MaxStepVisits == 0 {
		s.MaxStepVisits = DefaultMaxStepVisits
	}
	s.MaxRegenerations = orDefault(s.MaxRegenerations, DefaultMaxRegenerations)
	if s.RefusalMessage == "" {
		s.RefusalMessage = DefaultRefusal
	}
	return s
}

// HistoryTurnsOrDefault is the HistoryTurns WithDefaults gives, read
// without copying the settings (a store locks a session with this many
// earlier turns on every turn).
func (s *AgentSettings) HistoryTurnsOrDefault() int {
	if s.HistoryTurns != nil {
		return *s.HistoryTurns
	}
	return DefaultHistoryTurns
}

// TransitionMarginOrDefault is the TransitionMargin WithDefaults gives,
// read without copying the settings onto the stack of scenario navigation.
func (s *AgentSettings) TransitionMarginOrDefault() float64 {
	if s.TransitionMargin != nil {
		return *s.TransitionMargin
	}
	return DefaultTransitionMargin
}

// orDefault returns p, or a pointer to def when p is nil: for settings
// where zero is a meaningful choice, unset is told apart from zero.
func orDefault[T any](p *T, def T) *T {
	if p != nil {
		return p
	}
	return &def
}

// RuleScope says when a rule is a candidate.
type RuleScope string

// Rule scopes.
const (
	ScopeGlobal   RuleScope = "global"   // always
	ScopeScenario RuleScope = "scenario" // while scenario ScopeID is active
	ScopeStep     RuleScope = "step"     // while step ScopeID of the active scenario is current
)

// Rule says "when Condition, do Action". Hard rules carry constraints that a
// reply may never break.
type Rule struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Condition string `json:"condition"`
	// Examples are phrasings the condition applies to, beside the
	// condition's own alternatives; NegativeExamples phrasings it must not.
	Examples           []string     `json:"examples,omitempty"`
	NegativeExamples   []string     `json:"negative_examples,omitempty"`
	Action             string       `json:"action"`
	Scope              RuleScope    `json:"scope,omitempty"`
	ScopeID            string       `json:"scope_id,omitempty"`
	Priority           int          `json:"priority,omitempty"`
	Enabled            bool         `json:"enabled"`
	MaxFiresPerSession int          `json:"max_fires_per_session,omitempty"`
	CooldownTurns      int          `json:"cooldown_turns,omitempty"`
	Hard               bool         `json:"hard,omitempty"`
	Constraints        []Constraint `json:"constraints,omitempty"`
	ToolIDs            []string     `json:"tool_ids,omitempty"`
	TemplateIDs        []string     `json:"template_ids,omitempty"`
}

// UnmarshalJSON makes a missing "enabled" mean enabled and a missing scope global.
func (r *Rule) UnmarshalJSON(b []byte) error {
	type plain Rule
	p := plain{Enabled: true}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Scope == "" {
		p.Scope = ScopeGlobal
	}
	*r = Rule(p)
	return nil
}

// Scenario is a multi-step flow. It starts when a message clears its entry
// condition and moves between steps along scored transitions.
type Scenario struct {
	ID             string `json:"id"`
	Name           string `json:"name,omitempty"`
	Description    string `json:"description,omitempty"`
	EntryCondition string `json:"entry_condition"`
	// EntryExamples and EntryNegativeExamples teach the entry condition.
	EntryExamples         []string `json:"entry_examples,omitempty"`
	EntryNegativeExamples []string `json:"entry_negative_examples,omitempty"`
	// ExitCondition, when set, leaves the scenario when the message clears
	// it; ExitExamples alone make an exit condition too.
	ExitCondition        string   `json:"exit_condition,omitempty"`
	ExitExamples         []string `json:"exit_examples,omitempty"`
	ExitNegativeExamples []string `json:"exit_negative_examples,omitempty"`
	EntryStepID          string   `json:"entry_step_id"`
	// OnStart says what a start of the scenario does with the values its
	// steps collect that earlier turns gave: keep them (the default) or
	// clear them, so that a second run asks for them again.
	OnStart StartMode `json:"on_start,omitempty"`
	Steps   []Step    `json:"steps"`
	Enabled bool      `json:"enabled"`
}

// StartMode is what a scenario's start does with the values its steps
// collect.
type StartMode string

// Start modes.
const (
	StartKeep StartMode = "keep" // the values stay: the default
	// StartClear removes them, or sets those with an initial value to it
	// again; values from metadata stay (the client need not send them
	// again).
	StartClear StartMode = "clear"
)

// UnmarshalJSON makes a missing "enabled" mean enabled.
func (s *Scenario) UnmarshalJSON(b []byte) error {
	type plain Scenario
	p := plain{Enabled: true}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Scenario(p)
	return nil
}

// Step returns the step with id, or nil.
func (s *Scenario) Step(id string) *Step {
	for i := range s.Steps {
		if s.Steps[i].ID == id {
			return &s.Steps[i]
		}
	}
	return nil
}

// Collects reports whether a step of the scenario collects name.
func (s *Scenario) Collects(name string) bool {
	for i := range s.Steps {
		if slices.Contains(s.Steps[i].Collects, name) {
			return true
		}
	}
	return false
}

// Collected lists the variables the scenario's steps collect, each once,
// in the steps' order.
func (s *Scenario) Collected() []string {
	var names []string
	for _, st := range s.Steps {
		for _, n := range st.Collects {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// Step is one position in a scenario.
type Step struct {
	ID           string       `json:"id"`
	Name         string       `json:"name,omitempty"`
	Instructions string       `json:"instructions,omitempty"`
	Transitions  []Transition `json:"transitions,omitempty"`
	Terminal     bool         `json:"terminal,omitempty"`
	TemplateIDs  []string     `json:"template_ids,omitempty"`
	RuleIDs      []string     `json:"rule_ids,omitempty"`
	// Collects are the variables the step asks for: the message is read
	// for them, and until each is set the step asks again, saying what
	// was wrong with what it got.
	Collects []string `json:"collects,omitempty"`
	// ToolsOnEntry are called in the turn that enters the step,
	// ToolsOnComplete in the turn its collected variables become complete,
	// each with its inputs from the variables.
	ToolsOnEntry    []string `json:"tools_on_entry,omitempty"`
	ToolsOnComplete []string `json:"tools_on_complete,omitempty"`
}

// Transition moves a scenario to step To when the message clears Condition
// and When holds; a transition has either or both.
type Transition struct {
	To        string `json:"to"`
	Condition string `json:"condition,omitempty"`
	// Examples and NegativeExamples teach the condition, as a rule's do.
	Examples         []string `json:"examples,omitempty"`
	NegativeExamples []string `json:"negative_examples,omitempty"`
	// When is an expr-lang guard over vars.*, meta.* and today, compiled
	// at import; the transition is taken only while it is true.
	When     string `json:"when,omitempty"`
	Priority int    `json:"priority,omitempty"`
}

// TemplateMode says how a template is used.
type TemplateMode string

// Template modes.
const (
	// ModeExclusive answers verbatim (rendered) and no model is called.
	ModeExclusive TemplateMode = "exclusive"
	// ModeSuggest is offered to the model as a suggested wording.
	ModeSuggest TemplateMode = "suggest"
	// ModeFallback answers when the reply would break a hard constraint.
	ModeFallback TemplateMode = "fallback"
)

// Template is a reply text with {variable} placeholders.
type Template struct {
	ID   string       `json:"id"`
	Name string       `json:"name,omitempty"`
	Text string       `json:"text"`
	Mode TemplateMode `json:"mode"`
	// Default is said instead of Text when a placeholder of Text without
	// its own default has no value, so a reply never shows a blank.
	Default string `json:"default,omitempty"`
}

// Tool is an HTTP webhook bound to rules; its outputs become session variables.
type Tool struct {
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	URL       string   `json:"url"`
	TimeoutMS int      `json:"timeout_ms,omitempty"`
	Inputs    []string `json:"inputs,omitempty"`
	// Outputs are the variables kept from an answer; an output that names a
	// declared variable must be a valid value of that variable's type.
	Outputs []string `json:"outputs,omitempty"`
	// Secret signs every call (HMAC-SHA256); reads show it as Redacted.
	Secret string `json:"secret,omitempty"`
	// SecretEnv names the secret held by the operator instead: the
	// environment variable FOCAL_TOOL_SECRET_<SecretEnv>.
	SecretEnv string `json:"secret_env,omitempty"`
}

// ConstraintKind names how a constraint is checked.
type ConstraintKind string

// Constraint kinds.
const (
	ConstraintForbidPhrase  ConstraintKind = "forbid_phrase"
	ConstraintForbidPattern ConstraintKind = "forbid_pattern"
	ConstraintRequirePhrase ConstraintKind = "require_phrase"
	ConstraintExpression    ConstraintKind = "expression"
	ConstraintJudge         ConstraintKind = "judge"
)

// Constraint is a condition every reply must satisfy while its rule is enforced.
type Constraint struct {
	Kind  ConstraintKind `json:"kind"`
	Value string         `json:"value"`
}

// Lexical reports whether the constraint can be checked on a growing prefix
// of the reply (so streamed text can be released before the reply is whole).
func (c Constraint) Lexical() bool {
	return c.Kind == ConstraintForbidPhrase || c.Kind == ConstraintForbidPattern
}
