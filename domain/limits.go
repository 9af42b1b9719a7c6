package domain

import (
	"fmt"
	"slices"
	"strings"
)

// PolicyLimits bound what one tenant's policies may hold. They exist so
// that no tenant, whatever it imports, can make the policy of another one
// slow or the shared process run out of memory: every part of a policy that
// costs memory or time per turn is counted here. The values come from
// policyLimitTable, the one place that lists them with their defaults.
type PolicyLimits struct {
	// Agents per tenant.
	Agents int
	// Per agent.
	Rules, Scenarios, Templates, Tools, Variables int
	// VariableValues bounds an enum variable's values and synonyms together.
	VariableValues int
	// Steps per scenario, transitions per step.
	Steps, Transitions int
	// Constraints of all the agent's rules together; Judges the judge
	// constraints among them, each a model call per reply checked.
	Constraints, Judges int
	// References is the longest id list: a rule's tool_ids or
	// template_ids, a step's rule_ids or template_ids, a tool's inputs or
	// outputs.
	References int
	// ConditionRunes bounds one condition's text (all its
	// ;-alternatives); TextRunes an action, instructions, a template or the
	// system prompt.
	ConditionRunes, TextRunes int
	// Examples bounds one condition's examples (and, apart, its negative
	// examples); ExampleRunes one example; ExamplesTotal the examples and
	// negative examples of all the agent's conditions together, which the
	// matcher trains on whenever the policy changes.
	Examples, ExampleRunes, ExamplesTotal int
	// PatternBytes bounds a forbid_pattern's (or a variable's pattern's)
	// source, PatternProgram the RE2 program it compiles to
	// (instructions), PatternProgramTotal the programs of all the agent's
	// forbid_patterns together.
	PatternBytes, PatternProgram, PatternProgramTotal int
	// ExpressionBytes bounds an expression constraint's (or a transition's
	// when) source, ExpressionNodes its syntax tree.
	ExpressionBytes, ExpressionNodes int
}

// PolicyLimit describes one entry of PolicyLimits: its name (as
// FOCAL_POLICY_LIMITS spells it), default and meaning.
type PolicyLimit struct {
	Name    string
	Default int
	Meaning string
	field   func(*PolicyLimits) *int
}

// policyLimitTable is every policy limit with its default. A new limit is
// a field of PolicyLimits and a row here; docs/operations.md lists the rows
// and a test keeps it in step.
//
// The defaults fit the policies measured: the demo agent (6.7 KB), a
// Banking77-sized agent (77 rules, 130 phrasings each, longest condition
// 11,885 characters, 0.55 MB) and the 10,000-rule benchmark agent (1.6 MB).
var policyLimitTable = []PolicyLimit{
	{"agents", 100, "agents per tenant", func(l *PolicyLimits) *int { return &l.Agents }},
	{"rules", 10_000, "rules per agent", func(l *PolicyLimits) *int { return &l.Rules }},
	{"scenarios", 200, "scenarios per agent", func(l *PolicyLimits) *int { return &l.Scenarios }},
	{"steps", 50, "steps per scenario", func(l *PolicyLimits) *int { return &l.Steps }},
	{"transitions", 20, "transitions per step", func(l *PolicyLimits) *int { return &l.Transitions }},
	{"templates", 1_000, "templates per agent", func(l *PolicyLimits) *int { return &l.Templates }},
	{"tools", 50, "tools per agent", func(l *PolicyLimits) *int { return &l.Tools }},
	{"variables", 100, "variables per agent", func(l *PolicyLimits) *int { return &l.Variables }},
	{"variable_values", 500, "values and synonyms of one enum variable", func(l *PolicyLimits) *int { return &l.VariableValues }},
	{"constraints", 200, "constraints of all rules of an agent", func(l *PolicyLimits) *int { return &l.Constraints }},
	{"judges", 10, "judge constraints of all rules of an agent (each one model call per reply checked)", func(l *PolicyLimits) *int { return &l.Judges }},
	{"references", 100, "ids in one list (tool_ids, template_ids, rule_ids, inputs, outputs)", func(l *PolicyLimits) *int { return &l.References }},
	{"condition_runes", 32_768, "characters of one condition, all its alternatives", func(l *PolicyLimits) *int { return &l.ConditionRunes }},
	{"examples", 500, "examples of one condition, and apart its negative examples", func(l *PolicyLimits) *int { return &l.Examples }},
	{"example_runes", 500, "characters of one example", func(l *PolicyLimits) *int { return &l.ExampleRunes }},
	{"examples_total", 50_000, "examples and negative examples of all conditions of an agent", func(l *PolicyLimits) *int { return &l.ExamplesTotal }},
	{"text_runes", 20_000, "characters of an action, instructions, a template or the system prompt", func(l *PolicyLimits) *int { return &l.TextRunes }},
	{"pattern_bytes", 1_000, "bytes of one forbid_pattern or variable pattern", func(l *PolicyLimits) *int { return &l.PatternBytes }},
	{"pattern_program", 2_000, "RE2 instructions one forbid_pattern or variable pattern compiles to", func(l *PolicyLimits) *int { return &l.PatternProgram }},
	{"pattern_program_total", 20_000, "RE2 instructions of all forbid_patterns of an agent", func(l *PolicyLimits) *int { return &l.PatternProgramTotal }},
	{"expression_bytes", 1_000, "bytes of one expression constraint or transition guard (when)", func(l *PolicyLimits) *int { return &l.ExpressionBytes }},
	{"expression_nodes", 200, "syntax nodes of one expression constraint or transition guard (when)", func(l *PolicyLimits) *int { return &l.ExpressionNodes }},
}

// PolicyLimitTable returns every policy limit with its default, in order.
func PolicyLimitTable() []PolicyLimit { return slices.Clone(policyLimitTable) }

// DefaultPolicyLimits returns the limits at their defaults.
func DefaultPolicyLimits() PolicyLimits {
	var l PolicyLimits
	for _, row := range policyLimitTable {
		*row.field(&l) = row.Default
	}
	return l
}

// maxPolicyLimit keeps an override from switching a limit off in effect.
const maxPolicyLimit = 1_000_000

// With returns l with the named limits replaced, as FOCAL_POLICY_LIMITS
// gives them ("rules" → 20000). Unknown names and values outside
// 1..1,000,000 are errors.
func (l PolicyLimits) With(overrides map[string]int) (PolicyLimits, error) {
	for name, n := range overrides {
		i := slices.IndexFunc(policyLimitTable, func(row PolicyLimit) bool { return row.Name == name })
		if i < 0 {
			names := make([]string, len(policyLimitTable))
			for j, row := range policyLimitTable {
				names[j] = row.Name
			}
			return l, fmt.Errorf("unknown policy limit %q (known: %s)", name, strings.Join(names, ", "))
		}
		if n < 1 || n > maxPolicyLimit {
			return l, fmt.Errorf("policy limit %s must be 1..%d", name, maxPolicyLimit)
		}
		*policyLimitTable[i].field(&l) = n
	}
	return l, nil
}

// Value returns the limit named name; 0 for an unknown name.
func (l PolicyLimits) Value(name string) int {
	for _, row := range policyLimitTable {
		if row.Name == name {
			return *row.field(&l)
		}
	}
	return 0
}

// TextBytes is the size of a policy's text: every string a compiled form
// of it indexes or keeps. Caches weigh policies by it.
func (p *Policy) TextBytes() int {
	n := len(p.Agent.Name) + len(p.Agent.Description) + len(p.Agent.SystemPrompt) + len(p.Agent.Settings.RefusalMessage)
	for i := range p.Rules {
		r := &p.Rules[i]
		n += len(r.ID) + len(r.Name) + len(r.Condition) + len(r.Action) + len(r.ScopeID) + idsBytes(r.ToolIDs) + idsBytes(r.TemplateIDs) +
			idsBytes(r.Examples) + idsBytes(r.NegativeExamples)
		for _, c := range r.Constraints {
			n += len(c.Value)
		}
	}
	for i := range p.Scenarios {
		sc := &p.Scenarios[i]
		n += len(sc.ID) + len(sc.Name) + len(sc.Description) + len(sc.EntryCondition) + len(sc.ExitCondition) +
			idsBytes(sc.EntryExamples) + idsBytes(sc.EntryNegativeExamples) + idsBytes(sc.ExitExamples) + idsBytes(sc.ExitNegativeExamples)
		for _, st := range sc.Steps {
			n += len(st.ID) + len(st.Name) + len(st.Instructions) + idsBytes(st.TemplateIDs) + idsBytes(st.RuleIDs)
			for _, tr := range st.Transitions {
				n += len(tr.To) + len(tr.Condition) + len(tr.When) + idsBytes(tr.Examples) + idsBytes(tr.NegativeExamples)
			}
		}
	}
	for _, t := range p.Templates {
		n += len(t.ID) + len(t.Name) + len(t.Text) + len(t.Default)
	}
	for _, t := range p.Tools {
		n += len(t.ID) + len(t.Name) + len(t.URL) + idsBytes(t.Inputs) + idsBytes(t.Outputs) + len(t.Secret) + len(t.SecretEnv)
	}
	for _, v := range p.Variables {
		n += len(v.Name) + len(v.Description) + len(v.Hint) + len(v.Pattern) + len(v.Normalize) + len(v.Valid)
		for _, ev := range v.Values {
			n += len(ev.Value) + idsBytes(ev.Synonyms)
		}
	}
	return n
}

// idsBytes is the bytes of a list of ids or texts.
func idsBytes(ids []string) int {
	n := 0
	for _, id := range ids {
		n += len(id)
	}
	return n
}
