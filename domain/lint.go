package domain

import (
	"fmt"
	"strings"
)

// LintWarning is something in a valid policy that will likely not work as
// its author meant. Warnings never refuse a policy.
type LintWarning struct {
	Code string `json:"code"`
	// Field is the bundle path the warning is about
	// ("rules[2].examples[4]", "scenarios[0].steps[1].transitions[0]").
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Lint warning codes.
const (
	// LintDeprecatedSetting: a setting that no longer has an effect.
	LintDeprecatedSetting = "deprecated_setting"
	// LintOneWordCondition: every phrasing of a condition is one word.
	LintOneWordCondition = "one_word_condition"
	// LintExampleCollision: two conditions that compete have the same (or
	// nearly the same) phrasing.
	LintExampleCollision = "example_collision"
	// LintInseparable: the matcher cannot tell a condition from the others
	// on its own examples.
	LintInseparable = "inseparable_condition"
	// LintTransitionNeverFires: a transition that can never be taken.
	LintTransitionNeverFires = "transition_never_fires"
	// LintSelfCheckSkipped: the policy is too large to self-check at
	// import; the other checks ran.
	LintSelfCheckSkipped = "self_check_skipped"
	// LintToolAddressRefused: a tool whose URL's host is an address this
	// service's tool calls may not reach (loopback, private, link-local,
	// ...), and which the operator has not exempted: every call fails.
	LintToolAddressRefused = "tool_address_refused"
)

// Bounds of what linting does at import time, where it runs in the
// request: the self-check trains the matcher again for each example it
// leaves out (up to a sample), so it costs several compiles.
const (
	// lintSelfCheckExamples is the most examples (of the rules and entries
	// together) a policy may have for its self-check to run.
	lintSelfCheckExamples = 20_000
	// lintMaxCollisions bounds the collision warnings; a count of the rest
	// follows.
	lintMaxCollisions = 50
	// lintMinChecked is how many of a condition's examples the self-check
	// must have left out before it judges the condition.
	lintMinChecked = 4
)

// lintedCondition is one condition of the policy as lint reports on it.
type lintedCondition struct {
	cond Condition
	// name says what the condition belongs to, field where it is.
	name, field string
	// scenario is the scenario a scoped rule lives in, entryOf the
	// scenario an entry starts: a scenario's entry is never scored while
	// its own rules are live, so the two do not compete.
	scenario, entryOf string
	// staying marks a step matcher's "stay": the rest of the policy, not a
	// part that could be told apart or merged.
	staying bool
	// exampleFields are the fields of AllExamples' phrasings, in order.
	exampleFields []string
}

func newLinted(c Condition, name, field, textField, examplesField string) lintedCondition {
	lc := lintedCondition{cond: c, name: name, field: field}
	seen := map[string]bool{}
	for _, alt := range SplitCondition(c.Text) {
		if !seen[alt] {
			seen[alt] = true
			lc.exampleFields = append(lc.exampleFields, textField)
		}
	}
	for i, e := range c.Examples {
		if e = strings.TrimSpace(e); e != "" && !seen[e] {
			seen[e] = true
			lc.exampleFields = append(lc.exampleFields, fmt.Sprintf("%s[%d]", examplesField, i))
		}
	}
	return lc
}

// LintPolicy checks a valid policy: deprecated settings, conditions of
// one-word phrasings, phrasings two competing conditions share, conditions
// the matcher cannot tell apart on their own examples (a leave-one-out
// self-check of each matcher) and transitions that can never be taken. It
// trains the policy's matchers, so it costs a few compiles; a policy with
// more than 20,000 examples is not self-checked (a warning says so).
func LintPolicy(p *Policy) []LintWarning {
	var out []LintWarning
	if p.Agent.Settings.SemanticWeight != nil {
		out = append(out, LintWarning{Code: LintDeprecatedSetting, Field: "agent.settings.semantic_weight",
			Message: "semantic_weight no longer has an effect: the matcher calibrates the embedding signal itself; remove it"})
	}
	global, steps := lintedConditions(p)
	examples := 0
	for _, lc := range global {
		out = append(out, oneWord(lc)...)
		examples += len(lc.cond.AllExamples())
	}
	for _, st := range steps {
		for _, lc := range st.transitions {
			out = append(out, oneWord(lc)...)
		}
		out = append(out, terminalTransitions(st)...)
	}
	if examples > lintSelfCheckExamples {
		return append(out, LintWarning{Code: LintSelfCheckSkipped, Field: "rules",
			Message: fmt.Sprintf("the rules and scenario entries have %d examples, more than the %d a self-check at import covers: "+
				"collisions and conditions the matcher cannot tell apart were not looked for", examples, lintSelfCheckExamples)})
	}
	cp, err := CompilePolicy(p)
	if err != nil {
		return out // a policy that cannot compile is refused before it is linted
	}
	var b conditionBuilder
	owners := map[int][]lintedCondition{}
	for _, lc := range global {
		c := b.addCondition(lc.cond)
		owners[c] = append(owners[c], lc)
	}
	out = append(out, selfCheck(b.conds, owners, nil)...)
	for _, st := range steps {
		out = append(out, lintStep(cp, st)...)
	}
	return out
}

// lintedStep is a step's transitions and its scenario's exit.
type lintedStep struct {
	scenario    *Scenario
	step        *Step
	field       string
	transitions []lintedCondition
	exit        *lintedCondition
}

func lintedConditions(p *Policy) (global []lintedCondition, steps []lintedStep) {
	for i := range p.Rules {
		r := &p.Rules[i]
		f := fmt.Sprintf("rules[%d]", i)
		lc := newLinted(r.MatchCondition(), "rule "+r.ID, f+".condition", f+".condition", f+".examples")
		if r.Scope != ScopeGlobal {
			lc.scenario, _, _ = strings.Cut(r.ScopeID, "/")
		}
		global = append(global, lc)
	}
	for i := range p.Scenarios {
		sc := &p.Scenarios[i]
		f := fmt.Sprintf("scenarios[%d]", i)
		entry := newLinted(sc.Entry(), "the entry of scenario "+sc.ID, f+".entry_condition", f+".entry_condition", f+".entry_examples")
		entry.entryOf = sc.ID
		global = append(global, entry)
		var exit *lintedCondition
		if sc.Exit().Exists() {
			lc := newLinted(sc.Exit(), "the exit of scenario "+sc.ID, f+".exit_condition", f+".exit_condition", f+".exit_examples")
			exit = &lc
		}
		for j := range sc.Steps {
			st := &sc.Steps[j]
			ls := lintedStep{scenario: sc, step: st, field: fmt.Sprintf("%s.steps[%d]", f, j), exit: exit}
			for k := range st.Transitions {
				tf := fmt.Sprintf("%s.transitions[%d]", ls.field, k)
				ls.transitions = append(ls.transitions, newLinted(st.Transitions[k].MatchCondition(),
					fmt.Sprintf("the transition %s/%s → %s", sc.ID, st.ID, st.Transitions[k].To), tf, tf+".condition", tf+".examples"))
			}
			steps = append(steps, ls)
		}
	}
	return global, steps
}

func oneWord(lc lintedCondition) []LintWarning {
	ex := lc.cond.AllExamples()
	for _, e := range ex {
		if strings.Contains(phrasingKey(e), " ") {
			return nil
		}
	}
	if len(ex) == 0 {
		return nil
	}
	return []LintWarning{{Code: LintOneWordCondition, Field: lc.field, Message: fmt.Sprintf(
		"every phrasing of %s is one word (%s): one word says little about what a whole message means; give whole phrasings as examples",
		lc.name, quoteList(ex, 4))}}
}

// terminalTransitions: a terminal step ends its scenario once it has
// answered, so its transitions are never scored.
func terminalTransitions(st lintedStep) []LintWarning {
	if !st.step.Terminal {
		return nil
	}
	var out []LintWarning
	for _, lc := range st.transitions {
		out = append(out, LintWarning{Code: LintTransitionNeverFires, Field: lc.field,
			Message: fmt.Sprintf("%s can never be taken: step %s is terminal, so the scenario ends once it has answered", lc.name, st.step.ID)})
	}
	return out
}

// lintStep self-checks one step's matcher (its transitions, the exit and
// staying), as compiling builds it.
func lintStep(cp *CompiledPolicy, st lintedStep) []LintWarning {
	s := cp.steps[stepRef{st.scenario.ID, st.step.ID}]
	if s == nil || st.step.Terminal || len(st.transitions) == 0 {
		return nil
	}
	if s.compiled(cp) == nil {
		return nil
	}
	var out []LintWarning
	owners := map[int][]lintedCondition{}
	transitions := map[int]bool{}
	first := map[int]int{} // condition → its first transition
	for k, c := range s.transitions {
		if c < 0 {
			continue // a when alone: nothing to match
		}
		owners[c] = append(owners[c], st.transitions[k])
		transitions[c] = true
		j, seen := first[c]
		if !seen {
			first[c] = k
			continue
		}
		// Transitions with the same examples score alike: the higher
		// priority always wins; equal ones always tie, and the scenario
		// stays.
		a, b := st.step.Transitions[j], st.step.Transitions[k]
		if a.To == b.To {
			continue
		}
		if b.Priority <= a.Priority {
			out = append(out, sameAs(st.transitions[k], a, b.Priority < a.Priority))
		}
		if a.Priority <= b.Priority {
			out = append(out, sameAs(st.transitions[j], b, a.Priority < b.Priority))
		}
	}
	if s.exit >= 0 {
		owners[s.exit] = append(owners[s.exit], *st.exit)
	}
	if s.stay >= 0 {
		// Staying is the policy's, not a part to warn about.
		owners[s.stay] = append(owners[s.stay], lintedCondition{name: "staying at step " + st.step.ID + " (the rules' and entries' examples)",
			staying: true})
	}
	return append(out, selfCheck(s.builder.conds, owners, transitions)...)
}

// sameAs warns that lc never fires beside other, a transition with the
// same examples and a higher (or the same) priority.
func sameAs(lc lintedCondition, other Transition, lower bool) LintWarning {
	return LintWarning{Code: LintTransitionNeverFires, Field: lc.field, Message: fmt.Sprintf(
		"%s can never be taken: it has the same examples as the transition to %s, which always scores the same and has %s priority",
		lc.name, other.To, map[bool]string{true: "a higher", false: "the same"}[lower])}
}

// selfCheck checks a matcher's conditions (owners names who wrote each)
// and reports phrasings that collide across conditions and conditions it
// cannot separate; a transition that another condition outscores on every
// one of its own examples can never be taken.
func selfCheck(conds []MatcherCondition, owners map[int][]lintedCondition, transitions map[int]bool) []LintWarning {
	if len(conds) < 2 {
		return nil
	}
	check, err := CheckMatcher(conds, MatcherOptions{})
	if err != nil {
		return nil
	}
	out := collisions(conds, check.Collisions, owners, transitions)
	for c, cc := range check.Conditions {
		first := owners[c][0]
		if cc.Checked < lintMinChecked || first.field == "" {
			continue
		}
		switch {
		case transitions[c] && cc.Confused == cc.Checked:
			out = append(out, LintWarning{Code: LintTransitionNeverFires, Field: first.field, Message: fmt.Sprintf(
				"%s would not be taken on any of its own examples scored as new messages (%d checked, each went to %s or another): "+
					"give it phrasings that set it apart", first.name, cc.Checked, owners[cc.ConfusedWith[0].Condition][0].name)})
		case transitions == nil || transitions[c]:
			if w, ok := inseparable(first, cc, owners); ok {
				out = append(out, w)
			}
		}
	}
	return out
}

// collisions reports phrasings that competing conditions share (at most
// lintMaxCollisions of them); within a step, only those a transition is
// part of.
func collisions(conds []MatcherCondition, found []ExampleCollision, owners map[int][]lintedCondition, transitions map[int]bool) []LintWarning {
	var out []LintWarning
	for _, c := range found {
		a, b := owners[c.A][0], owners[c.B][0]
		if a.field == "" || b.field == "" || transitions != nil && !transitions[c.A] && !transitions[c.B] || !compete(a, b) {
			continue
		}
		if len(out) == lintMaxCollisions {
			return append(out, LintWarning{Code: LintExampleCollision, Field: b.field, Message: "more colliding phrasings are not listed"})
		}
		same := "the same phrasing"
		if c.Similarity < 1 {
			same = "nearly the same phrasing"
		}
		out = append(out, LintWarning{Code: LintExampleCollision, Field: fieldOf(b, c.ExampleB),
			Message: fmt.Sprintf("%q of %s is %s as %q of %s (%s): the matcher cannot tell the two apart on it",
				conds[c.B].Examples[c.ExampleB], b.name, same, conds[c.A].Examples[c.ExampleA], a.name, fieldOf(a, c.ExampleA))})
	}
	return out
}

// inseparable warns when at least half of a condition's own examples,
// scored as new messages, go to conditions it competes with.
func inseparable(first lintedCondition, cc ConditionCheck, owners map[int][]lintedCondition) (LintWarning, bool) {
	confused, rival := 0, -1
	for _, cw := range cc.ConfusedWith {
		if compete(first, owners[cw.Condition][0]) {
			confused += cw.Count
			if rival < 0 {
				rival = cw.Condition
			}
		}
	}
	if 2*confused < cc.Checked {
		return LintWarning{}, false
	}
	return LintWarning{Code: LintInseparable, Field: first.field, Message: fmt.Sprintf(
		"the matcher cannot tell %s apart from %s: %d of %d of its examples, scored as new messages, went to another condition; "+
			"give it phrasings that set it apart, or merge the two", first.name, owners[rival][0].name, confused, cc.Checked)}, true
}

// compete reports whether two conditions can decide the same message and
// could be told apart by their author: a scenario's entry is not scored
// while the scenario's own rules are live, and staying is everything else.
func compete(a, b lintedCondition) bool {
	return !a.staying && !b.staying && !(a.entryOf != "" && a.entryOf == b.scenario || b.entryOf != "" && b.entryOf == a.scenario)
}

// fieldOf is the field of a condition's i-th phrasing.
func fieldOf(lc lintedCondition, i int) string {
	if i >= 0 && i < len(lc.exampleFields) && lc.exampleFields[i] != "" {
		return lc.exampleFields[i]
	}
	return lc.field
}

func quoteList(items []string, n int) string {
	var q []string
	for _, s := range items[:min(n, len(items))] {
		q = append(q, fmt.Sprintf("%q", s))
	}
	if len(items) > n {
		q = append(q, "…")
	}
	return strings.Join(q, ", ")
}
