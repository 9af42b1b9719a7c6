package domain

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Policy is an agent with everything that governs its replies, at one
// version. It is also the agent bundle format: import and export move whole
// policies.
type Policy struct {
	Agent Agent `json:"agent"`
	// Variables are the values the agent collects and keeps per session.
	Variables []Variable `json:"variables"`
	Rules     []Rule     `json:"rules"`
	Scenarios []Scenario `json:"scenarios"`
	Templates []Template `json:"templates"`
	Tools     []Tool     `json:"tools"`
}

// Validation limits for policy parts that cost nothing per turn; the
// others are PolicyLimits.
const (
	maxIDLength   = 128
	maxNameLength = 200
	maxPriority   = 100
)

var policyID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// IsID reports whether s has the syntax of an agent's or a policy part's
// id: 1..128 letters, digits, '_', '.', ':' or '-', starting with a letter
// or a digit. UUIDs have it.
func IsID(s string) bool {
	return s != "" && len(s) <= maxIDLength && policyID.MatchString(s)
}

// Validate is ValidateWithin the default limits.
func (p *Policy) Validate() []FieldError { return p.ValidateWithin(DefaultPolicyLimits()) }

// ValidateWithin checks the policy's internal consistency (unique ids,
// references that resolve, known enums, template placeholders that parse)
// and that it stays within the per-agent limits. Expressions are checked
// by the application layer, which owns the expression language.
func (p *Policy) ValidateWithin(limits PolicyLimits) []FieldError {
	v := &validator{limits: limits}
	a := &p.Agent
	v.id("agent.id", a.ID)
	v.text("agent.name", a.Name, 1, maxNameLength)
	v.text("agent.system_prompt", a.SystemPrompt, 0, limits.TextRunes)
	validateSettings(v, a.Settings)
	if !v.counts(p) {
		return v.errs // a policy over the counts is not worth reading further
	}

	v.variables(p.Variables)
	settable, open := p.Settable()
	templates := v.uniqueIDs("templates", len(p.Templates), func(i int) string { return p.Templates[i].ID })
	for i, t := range p.Templates {
		v.template(fmt.Sprintf("templates[%d]", i), t, settable, open)
	}
	tools := v.tools(p.Tools)

	scenarios := v.uniqueIDs("scenarios", len(p.Scenarios), func(i int) string { return p.Scenarios[i].ID })
	steps := map[string]bool{}
	for i := range p.Scenarios {
		validateScenario(v, fmt.Sprintf("scenarios[%d]", i), &p.Scenarios[i], templates, steps)
	}

	v.flowRefs(p)
	rules := v.uniqueIDs("rules", len(p.Rules), func(i int) string { return p.Rules[i].ID })
	for i := range p.Rules {
		validateRule(v, fmt.Sprintf("rules[%d]", i), &p.Rules[i], scenarios, steps, templates, tools)
	}
	v.totals()
	for i := range p.Scenarios {
		for j, st := range p.Scenarios[i].Steps {
			for k, id := range st.RuleIDs {
				if !rules[id] {
					v.add(fmt.Sprintf("scenarios[%d].steps[%d].rule_ids[%d]", i, j, k), "unknown rule "+id)
				}
			}
		}
	}
	return v.errs
}

// tools checks the tools and returns their ids.
func (v *validator) tools(tools []Tool) map[string]bool {
	ids := v.uniqueIDs("tools", len(tools), func(i int) string { return tools[i].ID })
	for i, t := range tools {
		f := fmt.Sprintf("tools[%d]", i)
		if !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
			v.add(f+".url", "must be an http or https URL")
		}
		if t.TimeoutMS < 0 || t.TimeoutMS > 120000 {
			v.add(f+".timeout_ms", "must be 0..120000")
		}
		v.count(f+".inputs", len(t.Inputs), v.limits.References, "references")
		v.count(f+".outputs", len(t.Outputs), v.limits.References, "references")
		v.toolSecret(f, t)
	}
	return ids
}

// totals checks what the agent's parts add up to against the per-agent
// limits: constraints, examples, judges and pattern programs.
func (v *validator) totals() {
	limits := v.limits
	v.count("rules[*].constraints", v.constraints, limits.Constraints, "constraints")
	if v.exampleCount > limits.ExamplesTotal {
		v.add("rules[*].examples", fmt.Sprintf("the conditions hold %d examples together, more than %d (policy limit examples_total)",
			v.exampleCount, limits.ExamplesTotal))
	}
	v.count("rules[*].constraints", v.judges, limits.Judges, "judges")
	if v.patternProgram > limits.PatternProgramTotal {
		v.add("rules[*].constraints", fmt.Sprintf("forbid_patterns compile to %d instructions together, more than %d (policy limit pattern_program_total)",
			v.patternProgram, limits.PatternProgramTotal))
	}
}

// template checks one template: its mode, and text and default that parse
// and name only what can have a value.
func (v *validator) template(f string, t Template, settable map[string]bool, open bool) {
	v.text(f+".text", t.Text, 1, v.limits.TextRunes)
	switch t.Mode {
	case ModeExclusive, ModeSuggest, ModeFallback:
	default:
		v.add(f+".mode", "must be one of exclusive, suggest, fallback")
	}
	if pt, err := ParseTemplate(t.Text); err != nil {
		v.add(f+".text", err.Error())
	} else {
		v.templateRefs(f+".text", pt, settable, open, false)
	}
	if t.Default == "" {
		return
	}
	v.text(f+".default", t.Default, 1, v.limits.TextRunes)
	if pt, err := ParseTemplate(t.Default); err != nil {
		v.add(f+".default", err.Error())
	} else {
		v.templateRefs(f+".default", pt, settable, open, true)
	}
}

// counts checks the numbers of the policy's parts and reports whether they
// are within the limits.
func (v *validator) counts(p *Policy) bool {
	before := len(v.errs)
	v.count("rules", len(p.Rules), v.limits.Rules, "rules")
	v.count("scenarios", len(p.Scenarios), v.limits.Scenarios, "scenarios")
	v.count("templates", len(p.Templates), v.limits.Templates, "templates")
	v.count("tools", len(p.Tools), v.limits.Tools, "tools")
	v.count("variables", len(p.Variables), v.limits.Variables, "variables")
	return len(v.errs) == before
}

func validateSettings(v *validator, s AgentSettings) {
	unit := func(field string, x float64) {
		if x < 0 || x > 1 {
			v.add("agent.settings."+field, "must be between 0 and 1")
		}
	}
	unit("match_threshold", s.MatchThreshold)
	if s.SemanticWeight != nil { // deprecated, but a value out of range is still a mistake
		unit("semantic_weight", *s.SemanticWeight)
	}
	unit("scenario_entry_threshold", s.ScenarioEntryThreshold)
	unit("transition_threshold", s.TransitionThreshold)
	if s.TransitionMargin != nil {
		unit("transition_margin", *s.TransitionMargin)
	}
	if s.HistoryTurns != nil && (*s.HistoryTurns < 0 || *s.HistoryTurns > 100) {
		v.add("agent.settings.history_turns", "must be 0..100")
	}
	if s.TopK < 0 || s.TopK > 50 {
		v.add("agent.settings.top_k", "must be 0..50")
	}
	if s.MaxStepVisits < 0 || s.MaxStepVisits > 100 {
		v.add("agent.settings.max_step_visits", "must be 0..100")
	}
	if s.MaxRegenerations != nil && (*s.MaxRegenerations < 0 || *s.MaxRegenerations > 5) {
		v.add("agent.settings.max_regenerations", "must be 0..5")
	}
	if s.Temperature != nil && (*s.Temperature < 0 || *s.Temperature > 2) {
		v.add("agent.settings.temperature", "must be 0..2")
	}
	if s.MaxTokens < 0 {
		v.add("agent.settings.max_tokens", "must not be negative")
	}
}

func validateScenario(v *validator, f string, sc *Scenario, templates, allSteps map[string]bool) {
	v.text(f+".entry_condition", sc.EntryCondition, 1, v.limits.ConditionRunes)
	v.examples(f+".entry_examples", sc.EntryExamples)
	v.examples(f+".entry_negative_examples", sc.EntryNegativeExamples)
	v.text(f+".exit_condition", sc.ExitCondition, 0, v.limits.ConditionRunes)
	v.examples(f+".exit_examples", sc.ExitExamples)
	v.examples(f+".exit_negative_examples", sc.ExitNegativeExamples)
	v.count(f+".steps", len(sc.Steps), v.limits.Steps, "steps")
	stepIDs := v.uniqueIDs(f+".steps", len(sc.Steps), func(i int) string { return sc.Steps[i].ID })
	if len(sc.Steps) == 0 {
		v.add(f+".steps", "must have at least one step")
	}
	if !stepIDs[sc.EntryStepID] {
		v.add(f+".entry_step_id", "must name one of the scenario's steps")
	}
	switch sc.OnStart {
	case "", StartKeep, StartClear:
	default:
		v.add(f+".on_start", "must be one of keep, clear")
	}
	for id := range stepIDs {
		allSteps[sc.ID+"/"+id] = true
	}
	for j, st := range sc.Steps {
		sf := fmt.Sprintf("%s.steps[%d]", f, j)
		v.text(sf+".instructions", st.Instructions, 0, v.limits.TextRunes)
		v.count(sf+".transitions", len(st.Transitions), v.limits.Transitions, "transitions")
		v.count(sf+".rule_ids", len(st.RuleIDs), v.limits.References, "references")
		v.count(sf+".template_ids", len(st.TemplateIDs), v.limits.References, "references")
		for k, tr := range st.Transitions {
			tf := fmt.Sprintf("%s.transitions[%d]", sf, k)
			if !stepIDs[tr.To] {
				v.add(tf+".to", "unknown step "+tr.To)
			}
			switch {
			case tr.Condition == "" && tr.When == "":
				v.add(tf+".condition", "is required unless the transition has a when")
			case tr.Condition != "":
				v.text(tf+".condition", tr.Condition, 1, v.limits.ConditionRunes)
			}
			v.examples(tf+".examples", tr.Examples)
			v.examples(tf+".negative_examples", tr.NegativeExamples)
			if len(tr.When) > v.limits.ExpressionBytes {
				v.add(tf+".when", fmt.Sprintf("must be at most %d bytes (policy limit expression_bytes)", v.limits.ExpressionBytes))
			}
			v.priority(tf+".priority", tr.Priority)
		}
		v.refs(sf+".template_ids", st.TemplateIDs, templates, "template")
	}
}

func validateRule(v *validator, f string, r *Rule, scenarios, steps, templates, tools map[string]bool) {
	v.text(f+".condition", r.Condition, 1, v.limits.ConditionRunes)
	v.examples(f+".examples", r.Examples)
	v.examples(f+".negative_examples", r.NegativeExamples)
	v.text(f+".action", r.Action, 0, v.limits.TextRunes)
	v.count(f+".tool_ids", len(r.ToolIDs), v.limits.References, "references")
	v.count(f+".template_ids", len(r.TemplateIDs), v.limits.References, "references")
	v.priority(f+".priority", r.Priority)
	switch r.Scope {
	case ScopeGlobal:
		if r.ScopeID != "" {
			v.add(f+".scope_id", "must be empty for global rules")
		}
	case ScopeScenario:
		if !scenarios[r.ScopeID] {
			v.add(f+".scope_id", "must name a scenario of this agent")
		}
	case ScopeStep:
		// Step ids are only unique within a scenario, so a step scope is
		// written "<scenario>/<step>".
		if !steps[r.ScopeID] {
			v.add(f+".scope_id", "must name a step as <scenario_id>/<step_id>")
		}
	default:
		v.add(f+".scope", "must be one of global, scenario, step")
	}
	if r.MaxFiresPerSession < 0 {
		v.add(f+".max_fires_per_session", "must not be negative")
	}
	if r.CooldownTurns < 0 {
		v.add(f+".cooldown_turns", "must not be negative")
	}
	if len(r.Constraints) > 0 && !r.Hard {
		v.add(f+".hard", "must be true when the rule has constraints")
	}
	for k, c := range r.Constraints {
		v.constraint(fmt.Sprintf("%s.constraints[%d]", f, k), c)
	}
	v.refs(f+".template_ids", r.TemplateIDs, templates, "template")
	v.refs(f+".tool_ids", r.ToolIDs, tools, "tool")
}

// constraint checks one constraint at field f. Patterns are measured, not
// compiled: they are compiled once, when the policy is.
func (v *validator) constraint(f string, c Constraint) {
	v.constraints++
	if strings.TrimSpace(c.Value) == "" {
		v.add(f, "value must not be empty")
		return
	}
	switch c.Kind {
	case ConstraintJudge:
		v.judges++
		v.text(f+".value", c.Value, 1, v.limits.TextRunes)
	case ConstraintForbidPhrase, ConstraintRequirePhrase:
		v.text(f+".value", c.Value, 1, v.limits.TextRunes)
	case ConstraintExpression:
		if len(c.Value) > v.limits.ExpressionBytes {
			v.add(f+".value", fmt.Sprintf("must be at most %d bytes (policy limit expression_bytes)", v.limits.ExpressionBytes))
		}
	case ConstraintForbidPattern:
		n, empty, err := MeasurePattern(c.Value, v.limits.PatternBytes, v.limits.PatternProgram)
		switch {
		case err != nil:
			v.add(f, "value "+err.Error())
		case empty:
			v.add(f, "value must not match the empty text (it would forbid every reply)")
		}
		v.patternProgram += n
	default:
		v.add(f, "kind must be one of forbid_phrase, forbid_pattern, require_phrase, expression, judge")
	}
}

type validator struct {
	limits PolicyLimits
	errs   []FieldError
	// constraints, judges, patternProgram and exampleCount add up what
	// the per-agent totals limit.
	constraints, judges, patternProgram, exampleCount int
}

// examples checks one condition's list of examples (or negative ones).
func (v *validator) examples(field string, list []string) {
	v.count(field, len(list), v.limits.Examples, "examples")
	v.exampleCount += len(list)
	for i, e := range list {
		if n := utf8.RuneCountInString(e); strings.TrimSpace(e) == "" || n > v.limits.ExampleRunes || !utf8.ValidString(e) {
			v.add(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("must be 1..%d characters (policy limit example_runes)", v.limits.ExampleRunes))
		}
	}
}

// count refuses a list longer than limit, naming the policy limit.
func (v *validator) count(field string, n, limit int, name string) {
	if n > limit {
		v.add(field, fmt.Sprintf("must hold at most %d items, not %d (policy limit %s)", limit, n, name))
	}
}

func (v *validator) add(field, msg string) {
	v.errs = append(v.errs, FieldError{Field: field, Message: msg})
}

func (v *validator) id(field, id string) {
	if !IsID(id) {
		v.add(field, fmt.Sprintf("must be 1..%d characters of letters, digits, '_', '.', ':' or '-'", maxIDLength))
	}
}

func (v *validator) text(field, s string, minLen, maxLen int) {
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	if n < minLen || utf8.RuneCountInString(s) > maxLen || !utf8.ValidString(s) {
		v.add(field, fmt.Sprintf("must be %d..%d characters", minLen, maxLen))
	}
}

func (v *validator) priority(field string, p int) {
	if p < -maxPriority || p > maxPriority {
		v.add(field, "must be between -100 and 100")
	}
}

// uniqueIDs checks each id's form and uniqueness and returns the set.
func (v *validator) uniqueIDs(field string, n int, id func(int) string) map[string]bool {
	seen := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		f := fmt.Sprintf("%s[%d].id", field, i)
		x := id(i)
		v.id(f, x)
		if seen[x] {
			v.add(f, "duplicate id "+x)
		}
		seen[x] = true
	}
	return seen
}

func (v *validator) refs(field string, ids []string, known map[string]bool, what string) {
	for i, id := range ids {
		if !known[id] {
			v.add(fmt.Sprintf("%s[%d]", field, i), "unknown "+what+" "+id)
		}
	}
}
