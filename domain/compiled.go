package domain

import (
	"fmt"
	"strings"
)

// CompiledPolicy is a policy prepared for running turns: lookups by id,
// one lexical index over every condition text, parsed templates and prepared
// constraints. It depends only on the policy version, so it is built once
// per version and shared by every turn; it is immutable and safe for
// concurrent use.
type CompiledPolicy struct {
	Policy   *Policy
	Settings AgentSettings
	// Conditions indexes every alternative (see SplitCondition) of every
	// rule condition, scenario entry and exit condition and transition
	// condition, one document each.
	Conditions *LexicalIndex

	rules       map[string]int // rule id → index in Policy.Rules
	ruleOfDoc   []int          // document → rule index, -1 for other conditions
	ruleScopes  []ruleScope
	templates   map[string]*Template
	parsed      map[string]ParsedTemplate
	scenarios   map[string]*Scenario
	entryDocs   map[string][]int
	exitDocs    map[string][]int
	transitions map[string][][]int // "<scenario>/<step>" → per transition, its documents
	constraints map[string][]CheckedConstraint
	globalHard  []string
	fallback    string // the agent's fallback template id
}

// ruleScope is where a rule is a candidate: always, in a scenario, or in
// any of a set of steps ("<scenario>/<step>").
type ruleScope struct {
	global   bool
	scenario string
	steps    map[string]bool
}

// StepKey names a step uniquely within an agent.
func StepKey(scenarioID, stepID string) string { return scenarioID + "/" + stepID }

// CompilePolicy prepares p. p must be valid (see Policy.Validate).
func CompilePolicy(p *Policy) (*CompiledPolicy, error) {
	cp := &CompiledPolicy{
		Policy:      p,
		Settings:    p.Agent.Settings.WithDefaults(),
		rules:       make(map[string]int, len(p.Rules)),
		ruleScopes:  make([]ruleScope, len(p.Rules)),
		templates:   make(map[string]*Template, len(p.Templates)),
		parsed:      make(map[string]ParsedTemplate, len(p.Templates)),
		scenarios:   make(map[string]*Scenario, len(p.Scenarios)),
		entryDocs:   map[string][]int{},
		exitDocs:    map[string][]int{},
		transitions: map[string][][]int{},
		constraints: map[string][]CheckedConstraint{},
	}
	var docs []string
	// add indexes a condition's alternatives and returns their documents.
	add := func(condition string, rule int) []int {
		var ids []int
		for _, alt := range SplitCondition(condition) {
			ids = append(ids, len(docs))
			docs = append(docs, alt)
			cp.ruleOfDoc = append(cp.ruleOfDoc, rule)
		}
		return ids
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		cp.rules[r.ID] = i
		add(r.Condition, i)
		switch r.Scope {
		case ScopeScenario:
			cp.ruleScopes[i].scenario = r.ScopeID
		case ScopeStep:
			cp.ruleScopes[i].steps = map[string]bool{r.ScopeID: true}
		default:
			cp.ruleScopes[i].global = true
		}
		for _, c := range r.Constraints {
			cc, err := PrepareConstraint(r.ID, c)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", r.ID, err)
			}
			cp.constraints[r.ID] = append(cp.constraints[r.ID], cc)
		}
		if r.Hard && r.Enabled && r.Scope == ScopeGlobal && len(r.Constraints) > 0 {
			cp.globalHard = append(cp.globalHard, r.ID)
		}
	}
	for i := range p.Templates {
		t := &p.Templates[i]
		pt, err := ParseTemplate(t.Text)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", t.ID, err)
		}
		cp.templates[t.ID], cp.parsed[t.ID] = t, pt
		if t.Mode == ModeFallback && cp.fallback == "" {
			cp.fallback = t.ID
		}
	}
	for i := range p.Scenarios {
		sc := &p.Scenarios[i]
		cp.scenarios[sc.ID] = sc
		cp.entryDocs[sc.ID] = add(sc.EntryCondition, -1)
		if sc.ExitCondition != "" {
			cp.exitDocs[sc.ID] = add(sc.ExitCondition, -1)
		}
		for _, st := range sc.Steps {
			key := StepKey(sc.ID, st.ID)
			for _, tr := range st.Transitions {
				cp.transitions[key] = append(cp.transitions[key], add(tr.Condition, -1))
			}
			for _, id := range st.RuleIDs {
				rs := &cp.ruleScopes[cp.rules[id]]
				if rs.steps == nil {
					rs.steps = map[string]bool{}
				}
				rs.steps[key] = true
			}
		}
	}
	cp.Conditions = NewLexicalIndex(docs)
	return cp, nil
}

// Rule returns the rule with id, or nil.
func (cp *CompiledPolicy) Rule(id string) *Rule {
	if i, ok := cp.rules[id]; ok {
		return &cp.Policy.Rules[i]
	}
	return nil
}

// RuleHit is a rule's retrieval score: its best-scoring alternative.
type RuleHit struct {
	Rule  *Rule
	Index int // index in Policy.Rules
	Score float64
}

// SearchRules scores every rule sharing a term with q.
func (cp *CompiledPolicy) SearchRules(q Query) []RuleHit {
	best := map[int]float64{}
	for _, h := range cp.Conditions.Search(q) {
		if r := cp.ruleOfDoc[h.Doc]; r >= 0 && h.Score > best[r] {
			best[r] = h.Score
		}
	}
	hits := make([]RuleHit, 0, len(best))
	for i, s := range best {
		hits = append(hits, RuleHit{Rule: &cp.Policy.Rules[i], Index: i, Score: s})
	}
	return hits
}

// bestScore is q's score against the best of a condition's alternatives.
func (cp *CompiledPolicy) bestScore(q Query, docs []int) float64 {
	var best float64
	for _, d := range docs {
		best = max(best, cp.Conditions.ScoreDoc(q, d))
	}
	return best
}

// EntryScore scores q against a scenario's entry condition.
func (cp *CompiledPolicy) EntryScore(q Query, scenarioID string) float64 {
	return cp.bestScore(q, cp.entryDocs[scenarioID])
}

// ExitScore scores q against a scenario's exit condition (0 without one).
func (cp *CompiledPolicy) ExitScore(q Query, scenarioID string) float64 {
	return cp.bestScore(q, cp.exitDocs[scenarioID])
}

// TransitionScores scores q against each of a step's transitions, in order.
func (cp *CompiledPolicy) TransitionScores(q Query, scenarioID, stepID string) []float64 {
	trs := cp.transitions[StepKey(scenarioID, stepID)]
	out := make([]float64, len(trs))
	for i, docs := range trs {
		out[i] = cp.bestScore(q, docs)
	}
	return out
}

// InScope reports whether rule i (its index in Policy.Rules) is a
// candidate at pos.
func (cp *CompiledPolicy) InScope(i int, pos *ScenarioPosition) bool {
	s := cp.ruleScopes[i]
	if s.global {
		return true
	}
	if pos == nil {
		return false
	}
	return s.scenario == pos.ScenarioID || s.steps[StepKey(pos.ScenarioID, pos.StepID)]
}

// Template returns the template with id and its parsed form.
func (cp *CompiledPolicy) Template(id string) (*Template, ParsedTemplate, bool) {
	t, ok := cp.templates[id]
	return t, cp.parsed[id], ok
}

// Scenario returns the scenario with id, or nil.
func (cp *CompiledPolicy) Scenario(id string) *Scenario { return cp.scenarios[id] }

// Constraints returns the prepared constraints of a rule.
func (cp *CompiledPolicy) Constraints(ruleID string) []CheckedConstraint {
	return cp.constraints[ruleID]
}

// GlobalHardRules returns the enabled global hard rules with constraints,
// which are enforced on every reply.
func (cp *CompiledPolicy) GlobalHardRules() []string { return cp.globalHard }

// FallbackTemplate returns the agent's fallback template id, or "".
func (cp *CompiledPolicy) FallbackTemplate() string { return cp.fallback }

// SplitCondition splits a condition into its alternatives: phrasings
// separated by ';' or line breaks, each scored on its own. A rule matches as
// well as its best alternative, so "store hours; when do you open" matches
// either wording fully.
func SplitCondition(condition string) []string {
	parts := strings.FieldsFunc(condition, func(r rune) bool { return r == ';' || r == '\n' })
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
