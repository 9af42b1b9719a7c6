package domain

import (
	"fmt"
	"slices"
	"time"
)

// CompiledPolicy is a policy prepared for running turns: lookups by id,
// the condition matchers (see condition_sets.go), parsed templates and
// prepared constraints. It depends only on the policy version (and the
// example embeddings it was compiled with), so it is built once per version
// and shared by every turn; it is safe for concurrent use, and nothing it
// returns depends on when or in which order it is used.
type CompiledPolicy struct {
	Policy   *Policy
	Settings AgentSettings

	// exampleTexts are ExampleTexts(Policy), textIndex their positions;
	// vectors, when set, their embeddings.
	exampleTexts []string
	textIndex    map[string]int32
	vectors      [][]float32
	// global matches rules and scenario entries: ruleCond[i] is rule i's
	// condition, condRules the rules of each condition, entryCond each
	// scenario's entry condition.
	global    *conditionSet
	ruleCond  []int
	condRules [][]int
	entryCond map[string]int
	steps     map[stepRef]*stepConditions

	rules       map[string]int // rule id → index in Policy.Rules
	ruleScopes  []ruleScope
	templates   map[string]*Template
	parsed      map[string]ParsedTemplate
	scenarios   map[string]*Scenario
	tools       map[string]*Tool
	constraints map[string][]CheckedConstraint
	globalHard  []string
	fallback    string // the agent's fallback template id
	renderers   map[string]TemplateRenderer
	variables   *VariableSet
	location    *time.Location // the agent's time zone

	// globalConstraints are globalHard's constraints, in its order.
	globalConstraints []CheckedConstraint

	// agentName is the agent's name as an interface value, boxed once:
	// every turn that gathers its variables hands it to templates.
	agentName any
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

// stepRef names a step as StepKey does, without building a string: each
// turn at a step looks its matcher up by one.
type stepRef struct{ scenario, step string }

// CompilePolicy prepares p. p must be valid (see Policy.Validate).
func CompilePolicy(p *Policy) (*CompiledPolicy, error) { return CompilePolicyWithVectors(p, nil) }

// CompilePolicyWithVectors prepares p with the embeddings of its
// ExampleTexts (same order), so that the matchers calibrate the semantic
// signal to the embedder; nil, or a slice of another length, compiles
// without them.
func CompilePolicyWithVectors(p *Policy, vectors [][]float32) (*CompiledPolicy, error) {
	cp := &CompiledPolicy{
		agentName:   p.Agent.Name,
		Policy:      p,
		Settings:    p.Agent.Settings.WithDefaults(),
		rules:       make(map[string]int, len(p.Rules)),
		ruleScopes:  make([]ruleScope, len(p.Rules)),
		templates:   make(map[string]*Template, len(p.Templates)),
		parsed:      make(map[string]ParsedTemplate, len(p.Templates)),
		renderers:   make(map[string]TemplateRenderer, len(p.Templates)),
		scenarios:   make(map[string]*Scenario, len(p.Scenarios)),
		tools:       make(map[string]*Tool, len(p.Tools)),
		constraints: map[string][]CheckedConstraint{},
		entryCond:   map[string]int{},
		steps:       map[stepRef]*stepConditions{},
	}
	cp.exampleTexts = ExampleTexts(p)
	cp.textIndex = make(map[string]int32, len(cp.exampleTexts))
	for i, t := range cp.exampleTexts {
		cp.textIndex[t] = int32(i)
	}
	if len(vectors) == len(cp.exampleTexts) {
		cp.vectors = vectors
	}
	// Rules and scenario entries compete in one matcher: global.
	var global conditionBuilder
	if err := cp.compileRules(&global); err != nil {
		return nil, err
	}
	if err := cp.compileReplies(p); err != nil {
		return nil, err
	}
	cp.fallback = agentFallback(p)
	if err := cp.compileScenarios(&global); err != nil {
		return nil, err
	}
	for i := range p.Tools {
		cp.tools[p.Tools[i].ID] = &p.Tools[i]
	}
	var err error
	if cp.global, err = global.compile(cp); err != nil {
		return nil, fmt.Errorf("conditions: %w", err)
	}
	cp.condRules = make([][]int, len(global.conds))
	for i, c := range cp.ruleCond {
		cp.condRules[c] = append(cp.condRules[c], i)
	}
	return cp, nil
}

// compileReplies prepares what replies are made of: the templates, the
// variables they and the guards read, and the agent's calendar.
func (cp *CompiledPolicy) compileReplies(p *Policy) error {
	for i := range p.Templates {
		t := &p.Templates[i]
		pt, err := ParseTemplate(t.Text)
		if err != nil {
			return fmt.Errorf("template %s: %w", t.ID, err)
		}
		cp.templates[t.ID], cp.parsed[t.ID] = t, pt
		if cp.renderers[t.ID], err = NewTemplateRenderer(*t); err != nil {
			return fmt.Errorf("template %s: %w", t.ID, err)
		}
	}
	var err error
	if cp.variables, err = CompileVariables(p.Variables); err != nil {
		return fmt.Errorf("variables: %w", err)
	}
	cp.location, err = LoadTimeZone(cp.Settings.TimeZone)
	return err
}

// compileRules indexes the rules, their scopes and constraints, and adds
// their conditions to global.
func (cp *CompiledPolicy) compileRules(global *conditionBuilder) error {
	for i := range cp.Policy.Rules {
		r := &cp.Policy.Rules[i]
		cp.rules[r.ID] = i
		cp.ruleCond = append(cp.ruleCond, global.addCondition(r.MatchCondition()))
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
				return fmt.Errorf("rule %s: %w", r.ID, err)
			}
			cp.constraints[r.ID] = append(cp.constraints[r.ID], cc)
		}
		// Each rule once, so a turn can enforce this list as it is.
		if r.Hard && r.Enabled && r.Scope == ScopeGlobal && len(r.Constraints) > 0 && !slices.Contains(cp.globalHard, r.ID) {
			cp.globalHard = append(cp.globalHard, r.ID)
		}
	}
	// What a turn whose matched rules are not hard enforces, made once.
	for _, id := range cp.globalHard {
		cp.globalConstraints = append(cp.globalConstraints, cp.constraints[id]...)
	}
	return nil
}

// compileScenarios indexes the scenarios, adds their entries to global,
// lays out each step's matcher and scopes the rules steps list.
func (cp *CompiledPolicy) compileScenarios(global *conditionBuilder) error {
	for i := range cp.Policy.Scenarios {
		sc := &cp.Policy.Scenarios[i]
		cp.scenarios[sc.ID] = sc
		cp.entryCond[sc.ID] = global.addCondition(sc.Entry())
		for j := range sc.Steps {
			st := &sc.Steps[j]
			key := StepKey(sc.ID, st.ID)
			if s := newStepConditions(sc, st); s != nil {
				cp.steps[stepRef{sc.ID, st.ID}] = s
			}
			if err := cp.scopeStepRules(key, st.RuleIDs); err != nil {
				return err
			}
		}
	}
	return nil
}

// scopeStepRules makes the rules a step lists candidates at that step.
func (cp *CompiledPolicy) scopeStepRules(key string, ids []string) error {
	for _, id := range ids {
		ri, ok := cp.rules[id]
		if !ok {
			return fmt.Errorf("step %s lists unknown rule %s", key, id)
		}
		rs := &cp.ruleScopes[ri]
		if rs.steps == nil {
			rs.steps = map[string]bool{}
		}
		rs.steps[key] = true
	}
	return nil
}

// ExampleTexts are the policy's example texts (see the function
// ExampleTexts), which a similarity slice is indexed by.
func (cp *CompiledPolicy) ExampleTexts() []string { return cp.exampleTexts }

// RuleIndex returns the index in Policy.Rules of the rule with id, or -1.
func (cp *CompiledPolicy) RuleIndex(id string) int {
	if i, ok := cp.rules[id]; ok {
		return i
	}
	return -1
}

// Rule returns the rule with id, or nil.
func (cp *CompiledPolicy) Rule(id string) *Rule {
	if i, ok := cp.rules[id]; ok {
		return &cp.Policy.Rules[i]
	}
	return nil
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

// Renderer returns the renderer of the template with id.
func (cp *CompiledPolicy) Renderer(id string) (TemplateRenderer, bool) {
	r, ok := cp.renderers[id]
	return r, ok
}

// Variables returns the agent's declared variables, compiled.
func (cp *CompiledPolicy) Variables() *VariableSet { return cp.variables }

// Now is t in the agent's time zone: relative dates ("tomorrow") and
// today in guards are read on the agent's calendar.
func (cp *CompiledPolicy) Now(t time.Time) time.Time { return t.In(cp.location) }

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

// GlobalHardConstraints returns the constraints of GlobalHardRules, in
// their order: shared by every turn, which must not write to them.
func (cp *CompiledPolicy) GlobalHardConstraints() []CheckedConstraint { return cp.globalConstraints }

// AgentName is the agent's name (Policy.Agent.Name) as an interface value
// that the turns share, so a turn's variables box it at no cost.
func (cp *CompiledPolicy) AgentName() any { return cp.agentName }

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
