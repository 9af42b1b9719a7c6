package application

import (
	"slices"

	"focal/domain"
)

// What a replay compares, per turn: the kinds of change it reports.
const (
	ChangeRules       = "rules"
	ChangeScenario    = "scenario"
	ChangeTemplate    = "template"
	ChangeEnforcement = "enforcement"
	ChangeReply       = "reply"
	// ChangeError marks a turn the replay could not run (a model error with
	// the configured model); it counts as changed.
	ChangeError = "error"
)

// ReplayKinds are the kinds of change a turn's expectation may name.
var ReplayKinds = []string{ChangeRules, ChangeScenario, ChangeTemplate, ChangeEnforcement, ChangeReply}

// ExpectKey is the turn metadata key that marks a turn with an
// expectation: true (nothing of the turn may change on replay) or a list of
// kinds (rules, scenario, template, enforcement, reply) that must not.
const ExpectKey = "expect"

// Enforcement outcomes of a turn, as a replay compares them.
const (
	EnforcementNone        = "none"        // no hard constraint was in scope
	EnforcementPassed      = "passed"      // the first reply kept every constraint
	EnforcementRegenerated = "regenerated" // a violating reply was generated again
	EnforcementFallback    = "fallback"    // a fallback template replaced the reply
	EnforcementRefused     = "refused"     // nothing acceptable: the fixed refusal
)

// ReplayReport is the outcome of replaying sessions against a candidate
// policy.
type ReplayReport struct {
	AgentID   string            `json:"agent_id"`
	Candidate ReplayCandidate   `json:"candidate"`
	Model     string            `json:"model"`
	Sessions  []ReplayedSession `json:"sessions"`
	Summary   ReplaySummary     `json:"summary"`
}

// ReplayCandidate names the policy the turns were replayed against.
type ReplayCandidate struct {
	// Source is "version" or "bundle".
	Source string `json:"source"`
	// Version is the candidate's version; null for an inline bundle.
	Version *int64 `json:"version"`
}

// ReplayedSession is one session's replayed turns, in order.
type ReplayedSession struct {
	SessionID string         `json:"session_id"`
	Turns     []ReplayedTurn `json:"turns"`
}

// ReplayedTurn compares a recorded turn with its replay.
type ReplayedTurn struct {
	TurnID     string `json:"turn_id"`
	TurnNumber int    `json:"turn_number"`
	Message    string `json:"message"`
	// Expect lists the kinds the turn's expectation holds unchanged
	// (empty when the turn is not marked).
	Expect []string `json:"expect"`
	Before TurnView `json:"before"`
	After  TurnView `json:"after"`
	// Changed lists the kinds that differ, in ReplayKinds order.
	Changed           []string `json:"changed"`
	ExpectationBroken bool     `json:"expectation_broken"`
	// Error says why the replay of this turn failed, when it did.
	Error string `json:"error,omitempty"`
}

// TurnView is what a replay compares of one turn.
type TurnView struct {
	MatchedRules []string            `json:"matched_rules"`
	Scenario     *domain.ScenarioRef `json:"scenario"`
	// Template is the template that answered, or "".
	Template    string `json:"template"`
	Source      string `json:"source"`
	Enforcement string `json:"enforcement"`
	Reply       string `json:"reply"`
}

// ReplaySummary counts what changed.
type ReplaySummary struct {
	Sessions     int `json:"sessions"`
	Turns        int `json:"turns"`
	TurnsChanged int `json:"turns_changed"`
	// ByKind counts changed turns per kind (a turn may count in several).
	ByKind             map[string]int `json:"by_kind"`
	Expected           int            `json:"expected"`
	ExpectationsBroken int            `json:"expectations_broken"`
	// Truncated is set when the sessions held more turns than one replay
	// runs; the later ones were left out.
	Truncated bool `json:"truncated"`
}

// viewOf is what a replay compares of a turn record.
func viewOf(response string, e *domain.Explanation) TurnView {
	v := TurnView{MatchedRules: make([]string, 0, len(e.Matched)), Scenario: e.Scenario.After,
		Template: e.Generation.TemplateID, Source: e.Generation.Source, Reply: response}
	for _, m := range e.Matched {
		v.MatchedRules = append(v.MatchedRules, m.RuleID)
	}
	switch en := e.Enforcement; {
	case en.Refused:
		v.Enforcement = EnforcementRefused
	case en.Fallback:
		v.Enforcement = EnforcementFallback
	case en.Regenerations > 0:
		v.Enforcement = EnforcementRegenerated
	case len(en.Rules) > 0:
		v.Enforcement = EnforcementPassed
	default:
		v.Enforcement = EnforcementNone
	}
	return v
}

// changes lists the kinds in which two views differ.
func changes(a, b TurnView) []string {
	out := []string{}
	if !slices.Equal(a.MatchedRules, b.MatchedRules) {
		out = append(out, ChangeRules)
	}
	if !sameScenario(a.Scenario, b.Scenario) {
		out = append(out, ChangeScenario)
	}
	if a.Template != b.Template {
		out = append(out, ChangeTemplate)
	}
	if a.Enforcement != b.Enforcement {
		out = append(out, ChangeEnforcement)
	}
	if a.Reply != b.Reply {
		out = append(out, ChangeReply)
	}
	return out
}

func sameScenario(a, b *domain.ScenarioRef) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// expectationOf reads the kinds a turn's metadata holds unchanged.
func expectationOf(meta map[string]any) []string {
	switch v := meta[ExpectKey].(type) {
	case bool:
		if v {
			return slices.Clone(ReplayKinds)
		}
	case []any:
		var kinds []string
		for _, k := range ReplayKinds {
			if slices.Contains(v, any(k)) {
				kinds = append(kinds, k)
			}
		}
		return kinds
	}
	return []string{}
}

// broken reports whether a change touches an expected kind; a turn that
// could not be replayed breaks any expectation.
func broken(expect, changed []string) bool {
	if len(expect) == 0 {
		return false
	}
	for _, c := range changed {
		if c == ChangeError || slices.Contains(expect, c) {
			return true
		}
	}
	return false
}

// add counts a replayed turn into the summary.
func (s *ReplaySummary) add(t ReplayedTurn) {
	s.Turns++
	if len(t.Changed) > 0 {
		s.TurnsChanged++
	}
	for _, c := range t.Changed {
		s.ByKind[c]++
	}
	if len(t.Expect) > 0 {
		s.Expected++
	}
	if t.ExpectationBroken {
		s.ExpectationsBroken++
	}
}
