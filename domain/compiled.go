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

	// Alternatives is the text of every condition document, in order.
	Alternatives []string

	rules       map[string]int // rule id → index in Policy.Rules
	ruleOfDoc   []int          // document → rule index, -1 for other conditions
	ruleDocs    [][]int        // rule index → its documents
	ruleScopes  []ruleScope
	templates   map[string]*Template
	parsed      map[string]ParsedTemplate
	scenarios   map[string]*Scenario
	tools       map[string]*Tool
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
		ruleDocs:    make([][]int, len(p.Rules)),
		templates:   make(map[string]*Template, len(p.Templates)),
		parsed:      make(map[string]ParsedTemplate, len(p.Templates)),
		scenarios:   make(map[string]*Scenario, len(p.Scenarios)),
		tools:       make(map[string]*Tool, len(p.Tools)),
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
		cp.ruleDocs[i] = add(r.Condition, i)
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
	}
	cp.fallback = agentFallback(p)
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
				ri, ok := cp.rules[id]
				if !ok {
					return nil, fmt.Errorf("step %s lists unknown rule %s", key, id)
				}
				rs := &cp.ruleScopes[ri]
				if rs.steps == nil {
					rs.steps = map[string]bool{}
				}
				rs.steps[key] = true
			}
		}
	}
	for i := range p.Tools {
		cp.tools[p.Tools[i].ID] = &p.Tools[i]
	}
	cp.Alternatives = docs
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
	Rule     *Rule
	Index    int // index in Policy.Rules
	Score    float64
	Lexical  float64
	Semantic float64
}

// SearchRules scores, lexically, every rule sharing a term with q.
func (cp *CompiledPolicy) SearchRules(q Query) []RuleHit {
	return cp.Score(q, nil, 0).Rules()
}

// EntryScore scores q lexically against a scenario's entry condition.
func (cp *CompiledPolicy) EntryScore(q Query, scenarioID string) float64 {
	return cp.Score(q, nil, 0).Entry(scenarioID)
}

// ExitScore scores q lexically against a scenario's exit condition (0
// without one).
func (cp *CompiledPolicy) ExitScore(q Query, scenarioID string) float64 {
	return cp.Score(q, nil, 0).Exit(scenarioID)
}

// TransitionScores scores q lexically against each of a step's
// transitions, in order.
func (cp *CompiledPolicy) TransitionScores(q Query, scenarioID, stepID string) []float64 {
	return cp.Score(q, nil, 0).Transitions(scenarioID, stepID)
}

// ConditionScores are one message's scores against every condition of a
// policy: lexical always, semantic when document similarities are given,
// combined as (1-w)·lexical + w·semantic.
type ConditionScores struct {
	cp       *CompiledPolicy
	lexical  map[int]float64
	semantic []float64 // per document; nil when there are no embeddings
	weight   float64
}

// Score prepares q's scores. semantic, when not nil, holds the message's
// similarity (0..1) to every document; weight is the semantic share.
func (cp *CompiledPolicy) Score(q Query, semantic []float64, weight float64) *ConditionScores {
	hits := cp.Conditions.Search(q)
	lex := make(map[int]float64, len(hits))
	for _, h := range hits {
		lex[h.Doc] = h.Score
	}
	if semantic == nil {
		weight = 0
	}
	return &ConditionScores{cp: cp, lexical: lex, semantic: semantic, weight: weight}
}

// best scores a condition as its best alternative.
func (s *ConditionScores) best(docs []int) (score, lexical, semantic float64) {
	for _, d := range docs {
		l := s.lexical[d]
		var m float64
		if s.semantic != nil {
			m = s.semantic[d]
		}
		if h := (1-s.weight)*l + s.weight*m; h > score || (h == score && l > lexical) {
			score, lexical, semantic = h, l, m
		}
	}
	return score, lexical, semantic
}

// Rules scores the rules: with semantic scores every rule, otherwise only
// those sharing a term with the message.
func (s *ConditionScores) Rules() []RuleHit {
	var idx []int
	if s.semantic != nil {
		idx = make([]int, len(s.cp.Policy.Rules))
		for i := range idx {
			idx[i] = i
		}
	} else {
		seen := map[int]bool{}
		for d := range s.lexical {
			if r := s.cp.ruleOfDoc[d]; r >= 0 && !seen[r] {
				seen[r] = true
				idx = append(idx, r)
			}
		}
	}
	hits := make([]RuleHit, 0, len(idx))
	for _, i := range idx {
		score, l, m := s.best(s.cp.ruleDocs[i])
		if score > 0 {
			hits = append(hits, RuleHit{Rule: &s.cp.Policy.Rules[i], Index: i, Score: score, Lexical: l, Semantic: m})
		}
	}
	return hits
}

// Entry scores a scenario's entry condition.
func (s *ConditionScores) Entry(scenarioID string) float64 {
	score, _, _ := s.best(s.cp.entryDocs[scenarioID])
	return score
}

// Exit scores a scenario's exit condition (0 without one).
func (s *ConditionScores) Exit(scenarioID string) float64 {
	score, _, _ := s.best(s.cp.exitDocs[scenarioID])
	return score
}

// Transitions scores each of a step's transitions, in order.
func (s *ConditionScores) Transitions(scenarioID, stepID string) []float64 {
	trs := s.cp.transitions[StepKey(scenarioID, stepID)]
	out := make([]float64, len(trs))
	for i, docs := range trs {
		out[i], _, _ = s.best(docs)
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

// Tool returns the tool with id, or nil.
func (cp *CompiledPolicy) Tool(id string) *Tool { return cp.tools[id] }

// Scenario returns the scenario with id, or nil.
func (cp *CompiledPolicy) Scenario(id string) *Scenario { return cp.scenarios[id] }

// Constraints returns the prepared constraints of a rule.
func (cp *CompiledPolicy) Constraints(ruleID string) []CheckedConstraint {
	return cp.constraints[ruleID]
}

// GlobalHardRules returns the enabled global hard rules with constraints,
// which are enforced on every reply.
func (cp *CompiledPolicy) GlobalHardRules() []string { return cp.globalHard }

// FallbackTemplate returns the agent's fallback template id, or "": the
// first fallback template bound to no rule or step, else the first one.
func (cp *CompiledPolicy) FallbackTemplate() string { return cp.fallback }

// agentFallback picks the agent's own fallback template: the first
// fallback template that no rule or step claims, else the first fallback
// template at all. A rule's fallback speaks for that rule; it should not
// answer unrelated messages.
func agentFallback(p *Policy) string {
	bound := map[string]bool{}
	for _, r := range p.Rules {
		for _, id := range r.TemplateIDs {
			bound[id] = true
		}
	}
	for _, sc := range p.Scenarios {
		for _, st := range sc.Steps {
			for _, id := range st.TemplateIDs {
				bound[id] = true
			}
		}
	}
	first := ""
	for _, t := range p.Templates {
		if t.Mode != ModeFallback {
			continue
		}
		if !bound[t.ID] {
			return t.ID
		}
		if first == "" {
			first = t.ID
		}
	}
	return first
}

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
