package domain

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// How a policy's conditions are matched. Rules and scenario entries compete
// in one matcher, compiled with the policy: a message is claimed by the
// condition it fits best, so a rule can crowd out an entry that fits less
// well and the other way round. A step's transitions and its scenario's exit
// compete in a small matcher of their own, with one more condition, "stay",
// learned from a sample of the rules' and entries' examples: a transition
// is taken only when the message fits it better than anything else the
// customer might be saying. The step matchers are compiled the first time
// their step is scored (the same every time, so when does not matter);
// a policy with thousands of steps does not pay for those never reached.

// stayExamples bounds the examples of a step matcher's "stay" condition:
// enough to stand for the rest of the policy, few enough that compiling a
// step stays in the low milliseconds.
const stayExamples = 256

// conditionSet is one compiled matcher with what reading its scores needs:
// each matcher condition's examples (to name the one that explains a
// score) and each example's index in the policy's example texts (to give
// the matcher the message's similarity to it).
type conditionSet struct {
	matcher  *Matcher
	examples [][]string
	texts    []int32 // flat, in the matcher's example order
	all      []int   // every condition's index, to score them all
}

// conditionBuilder collects matcher conditions, merging identical ones:
// two rules with the same examples are one condition to the matcher, which
// could not tell them apart anyway, and both get its score.
type conditionBuilder struct {
	conds []MatcherCondition
	byKey map[string]int
}

func (b *conditionBuilder) add(examples, negatives []string) int {
	key := strings.Join(slices.Sorted(slices.Values(examples)), "\x00") + "\x01" +
		strings.Join(slices.Sorted(slices.Values(negatives)), "\x00")
	if i, ok := b.byKey[key]; ok {
		return i
	}
	if b.byKey == nil {
		b.byKey = map[string]int{}
	}
	b.byKey[key] = len(b.conds)
	b.conds = append(b.conds, MatcherCondition{Examples: examples, Negatives: negatives})
	return len(b.conds) - 1
}

func (b *conditionBuilder) addCondition(c Condition) int {
	return b.add(c.AllExamples(), c.AllNegatives())
}

// compile builds the set's matcher; nil when there are no conditions.
func (b *conditionBuilder) compile(cp *CompiledPolicy) (*conditionSet, error) {
	if len(b.conds) == 0 {
		return nil, nil
	}
	s := &conditionSet{examples: make([][]string, len(b.conds))}
	for c := range b.conds {
		cond := &b.conds[c]
		s.examples[c] = cond.Examples
		for _, e := range cond.Examples {
			t := cp.textIndex[e]
			s.texts = append(s.texts, t)
			if cp.vectors != nil {
				cond.Embeddings = append(cond.Embeddings, cp.vectors[t])
			}
		}
	}
	m, err := CompileMatcher(b.conds, MatcherOptions{})
	if err != nil {
		return nil, err
	}
	s.matcher = m
	s.all = make([]int, len(b.conds))
	for c := range s.all {
		s.all[c] = c
	}
	return s, nil
}

// input is the matcher's input for a message; similarity is the message's
// similarity to each of the policy's example texts, or nil.
func (s *conditionSet) input(text, context string, similarity []float64) MatchInput {
	in := MatchInput{Text: text, Context: context}
	if similarity != nil {
		in.Semantic = make([]float64, len(s.texts))
		for i, t := range s.texts {
			in.Semantic[i] = similarity[t]
		}
	}
	return in
}

// evidence reads one matcher result.
func (s *conditionSet) evidence(cs ConditionScore) ConditionEvidence {
	ev := ConditionEvidence{Score: cs.Score, Lexical: cs.Lexical, Semantic: cs.Semantic, Terms: cs.Terms}
	if ex := s.examples[cs.Condition]; cs.Example >= 0 && cs.Example < len(ex) {
		ev.Example = ex[cs.Example]
	}
	return ev
}

// ConditionEvidence is a condition's calibrated score for a message and
// what explains it.
type ConditionEvidence struct {
	// Score is the probability (0..1) that the condition applies.
	Score float64
	// Lexical and Semantic are what the words and, with an embedder, the
	// meaning say on their own (each 0..1; Semantic 0 without embeddings).
	Lexical, Semantic float64
	// Example is the condition's example most like the message; empty
	// when none shares a word with it (or it was not among the best few).
	Example string
	// Terms are the message's words that weighed most for the condition.
	Terms []string
}

// stepConditions is a step's matcher, compiled when first needed.
type stepConditions struct {
	once sync.Once
	done atomic.Bool // once has run
	set  *conditionSet
	// transitions[i] is transition i's matcher condition, -1 for one with
	// only a when (nothing to match); exit and stay are -1 when absent.
	transitions []int
	exit, stay  int
	builder     conditionBuilder
	// explainsLater is StepExplainsLater of the step, looked up once.
	explainsLater bool
}

// newStepConditions lays out a step's matcher: its transitions, the
// scenario's exit condition and "stay". Nil when the step has nothing to
// decide (no transitions and no exit).
func newStepConditions(sc *Scenario, st *Step) *stepConditions {
	exit := sc.Exit()
	if len(st.Transitions) == 0 && !exit.Exists() {
		return nil
	}
	s := &stepConditions{exit: -1, stay: -1, explainsLater: explainsLater(st)}
	for i := range st.Transitions {
		c := -1
		if tc := st.Transitions[i].MatchCondition(); tc.Exists() {
			c = s.builder.addCondition(tc)
		}
		s.transitions = append(s.transitions, c)
	}
	if exit.Exists() {
		s.exit = s.builder.addCondition(exit)
	}
	return s
}

// compiled returns the step's matcher, compiling it on first use.
func (s *stepConditions) compiled(cp *CompiledPolicy) *conditionSet {
	s.once.Do(func() {
		if len(s.builder.conds) == 0 {
			return // only guarded transitions: nothing to match
		}
		if stay := cp.stayExamples(s.builder.conds); len(stay) > 0 {
			s.stay = s.builder.add(stay, nil)
		}
		// The only error is no conditions, which was ruled out above.
		s.set, _ = s.builder.compile(cp)
	})
	s.done.Store(true)
	return s.set
}

// CompileSteps compiles the matchers of the steps that have one, which a
// step's first turn at the version compiles otherwise: tens of
// milliseconds each (the "stay" condition's examples are trained, at any
// number of rules), which a policy warm (the engine's Prepare) spends
// instead of a customer. It stops early once stop answers true.
func (cp *CompiledPolicy) CompileSteps(stop func() bool) {
	for _, s := range cp.steps {
		if stop() {
			return
		}
		s.compiled(cp)
	}
}

// StepsCompiled is how many steps' matchers are compiled, of StepMatchers.
func (cp *CompiledPolicy) StepsCompiled() int {
	n := 0
	for _, s := range cp.steps {
		if s.done.Load() {
			n++
		}
	}
	return n
}

// StepMatchers is how many steps have a matcher: a transition with a
// condition, or the scenario's exit, to decide.
func (cp *CompiledPolicy) StepMatchers() int { return len(cp.steps) }

// stayExamples samples the rules' and entries' examples, the first of each
// condition, then the second, and so on: what a customer at this step may
// say instead of moving on. A condition that shares a phrasing with one of
// the step's own conditions is about the same thing (a step rule for
// damaged items beside a transition taken on damage, a scenario rule that
// cancels beside the exit) and is left out whole.
func (cp *CompiledPolicy) stayExamples(own []MatcherCondition) []string {
	if cp.global == nil {
		return nil
	}
	ownKeys := map[string]bool{}
	for _, c := range own {
		for _, e := range c.Examples {
			ownKeys[phrasingKey(e)] = true
		}
	}
	skip := maps.Clone(ownKeys) // and the phrasings taken
	// Whether a condition shares a phrasing with the step's own is read
	// when a round first reaches it: at 10,000 rules the rounds stop after
	// a few hundred conditions, and reading every example's phrasing key
	// made the step's first turn cost about 100 ms.
	const unread, shares, apart = 0, 1, 2
	seen := make([]uint8, len(cp.global.examples))
	sharesPhrasing := func(c int) bool {
		if seen[c] == unread {
			seen[c] = apart
			if slices.ContainsFunc(cp.global.examples[c], func(e string) bool { return ownKeys[phrasingKey(e)] }) {
				seen[c] = shares
			}
		}
		return seen[c] == shares
	}
	var out []string
	for round := 0; len(out) < stayExamples; round++ {
		more := false
		for c, ex := range cp.global.examples {
			if round >= len(ex) || len(out) == stayExamples || sharesPhrasing(c) {
				continue
			}
			more = true
			if k := phrasingKey(ex[round]); !skip[k] {
				skip[k] = true
				out = append(out, ex[round])
			}
		}
		if !more {
			break
		}
	}
	return out
}
