package domain

import (
	"cmp"
	"slices"
)

// ExampleTexts are the distinct examples of every condition of p (not the
// negative ones), in a fixed order: what an embedder embeds for the policy,
// and what a similarity slice given to ScoreMessage and ScoreStep is
// indexed by.
func ExampleTexts(p *Policy) []string {
	var lists [][]string
	for i := range p.Rules {
		lists = append(lists, p.Rules[i].MatchCondition().AllExamples())
	}
	for i := range p.Scenarios {
		sc := &p.Scenarios[i]
		lists = append(lists, sc.Entry().AllExamples(), sc.Exit().AllExamples())
		for _, st := range sc.Steps {
			for k := range st.Transitions {
				lists = append(lists, st.Transitions[k].MatchCondition().AllExamples())
			}
		}
	}
	return distinctTrimmed(lists...)
}

// ScoredRule is a rule's score for a message.
type ScoredRule struct {
	Index int // in Policy.Rules
	Rule  *Rule
	ConditionEvidence
}

// MessageScores are a message's scores against the policy's rules and
// scenario entries.
type MessageScores struct {
	cp         *CompiledPolicy
	bufs       *messageBuffers // what text and read live in, until Release
	in         MatchInput
	text       *messageText     // the message read, for Step to share
	similarity []float64        // to ExampleTexts, or nil
	read       readMessage      // what scoring read of the message
	scores     []ConditionScore // of the conditions scoring at least 0.01, best first
	// unexplained: no score names an example or terms, and ExplainRule
	// and ExplainEntry explain nothing more (ScoreMessageUnexplained).
	unexplained bool
}

// ScoreMessage scores text against every rule and scenario entry.
// similarity, when not nil, is the message's cosine similarity to each of
// ExampleTexts (NaN where unknown). The cost grows with the matcher's
// weights for the message's words, not with the number of rules.
func (cp *CompiledPolicy) ScoreMessage(text string, similarity []float64) *MessageScores {
	return cp.scoreMessage(text, similarity, 0)
}

// ScoreMessageUnexplained is ScoreMessage without similarity and without
// what explains the scores: no evidence it gives names an example or
// terms. The scores are ScoreMessage's; ScoreMessage gives the rest from
// the message alone, later (a turn record's explanation completed when it
// is read, see Explained).
func (cp *CompiledPolicy) ScoreMessageUnexplained(text string) *MessageScores {
	return cp.scoreMessage(text, nil, skipExplain)
}

func (cp *CompiledPolicy) scoreMessage(text string, similarity []float64, opts scoreOptions) *MessageScores {
	bufs := messageBufferPool.Get().(*messageBuffers)
	// The scores live in the buffers too: a turn allocated them apart,
	// and Release hands them back with the rest.
	s := &bufs.scores
	*s = MessageScores{cp: cp, bufs: bufs, text: readMessageTextIn(text, defaultMatcherTuning.negationScope, bufs),
		similarity: cp.similarityOrNil(similarity), unexplained: opts&skipExplain != 0}
	if cp.global == nil {
		return s
	}
	s.in = cp.global.input(text, "", s.similarity)
	s.scores, s.read = cp.global.matcher.scoreTextIn(s.text, s.in, nil, &bufs.kept, opts)
	return s
}

// Release hands back the arrays the message was read into, and s itself,
// for the next message's scores: a caller done with s may call it, once,
// and then neither call s's methods nor read it again (another message's
// scores may be in it). What s's methods returned stays valid. Without
// Release, the arrays and s are the collector's.
func (s *MessageScores) Release() {
	if s.bufs == nil {
		return
	}
	s.bufs.put() // empties s, which is in the buffers
}

func (cp *CompiledPolicy) similarityOrNil(similarity []float64) []float64 {
	if len(similarity) != len(cp.exampleTexts) {
		return nil
	}
	return similarity
}

// Rules are the rules whose condition scored at least 0.01, best first
// (declaration order among equals).
func (s *MessageScores) Rules() []ScoredRule {
	return slices.AppendSeq(make([]ScoredRule, 0, s.NumRules()), s.EachRule)
}

// NumRules is how many rules Rules gives.
func (s *MessageScores) NumRules() int {
	n := 0
	for _, cs := range s.scores {
		n += len(s.cp.condRules[cs.Condition])
	}
	return n
}

// EachRule yields Rules one by one without making the list: a turn keeps
// only some of them.
func (s *MessageScores) EachRule(yield func(ScoredRule) bool) {
	for i := 0; i < len(s.scores); {
		j := i + 1
		for j < len(s.scores) && s.scores[j].Score == s.scores[i].Score {
			j++
		}
		if !s.yieldTied(s.scores[i:j], yield) {
			return
		}
		i = j
	}
}

// yieldTied yields the rules of conditions that scored the same, in
// declaration order; each condition's rules already are.
func (s *MessageScores) yieldTied(conds []ConditionScore, yield func(ScoredRule) bool) bool {
	rule := func(i int, cs ConditionScore) ScoredRule {
		return ScoredRule{Index: i, Rule: &s.cp.Policy.Rules[i], ConditionEvidence: s.cp.global.evidence(cs)}
	}
	if len(conds) == 1 {
		for _, i := range s.cp.condRules[conds[0].Condition] {
			if !yield(rule(i, conds[0])) {
				return false
			}
		}
		return true
	}
	var tied []ScoredRule
	for _, cs := range conds {
		for _, i := range s.cp.condRules[cs.Condition] {
			tied = append(tied, rule(i, cs))
		}
	}
	slices.SortFunc(tied, func(a, b ScoredRule) int { return cmp.Compare(a.Index, b.Index) })
	for _, r := range tied {
		if !yield(r) {
			return false
		}
	}
	return true
}

// indexOf finds condition c in scores: a few dozen at most, looked up a
// few times a turn, so a scan costs less than building a map each turn.
func (s *MessageScores) indexOf(c int) (int, bool) {
	i := slices.IndexFunc(s.scores, func(cs ConditionScore) bool { return cs.Condition == c })
	return i, i >= 0
}

// Entry is a scenario's entry score; zero when it scored below 0.01.
func (s *MessageScores) Entry(scenarioID string) ConditionEvidence {
	c, ok := s.cp.entryCond[scenarioID]
	if !ok {
		return ConditionEvidence{}
	}
	if i, ok := s.indexOf(c); ok {
		return s.cp.global.evidence(s.scores[i])
	}
	return ConditionEvidence{}
}

// ExplainRule is rule i's evidence with its supporting example, which
// Rules gives only for the best few conditions: the rule is scored again
// on its own when needed.
func (s *MessageScores) ExplainRule(i int) ConditionEvidence {
	if i < 0 || i >= len(s.cp.ruleCond) {
		return ConditionEvidence{}
	}
	return s.explain(s.cp.ruleCond[i])
}

// ExplainEntry is ExplainRule for a scenario's entry.
func (s *MessageScores) ExplainEntry(scenarioID string) ConditionEvidence {
	c, ok := s.cp.entryCond[scenarioID]
	if !ok {
		return ConditionEvidence{}
	}
	return s.explain(c)
}

// Rule is rule i's evidence as Rules gives it (zero when its condition
// scored below 0.01), explaining nothing more.
func (s *MessageScores) Rule(i int) ConditionEvidence {
	if i < 0 || i >= len(s.cp.ruleCond) {
		return ConditionEvidence{}
	}
	if k, ok := s.indexOf(s.cp.ruleCond[i]); ok {
		return s.cp.global.evidence(s.scores[k])
	}
	return ConditionEvidence{}
}

func (s *MessageScores) explain(c int) ConditionEvidence {
	if i, ok := s.indexOf(c); ok {
		if s.scores[i].Example < 0 && !s.unexplained {
			s.explainAt(i)
		}
		return s.cp.global.evidence(s.scores[i])
	}
	if s.cp.global == nil {
		return ConditionEvidence{}
	}
	m, opts := s.cp.global.matcher, withTerms
	if s.unexplained {
		opts |= skipExplain
	}
	scores, _ := m.scoreIn(readMessageText(s.in.Text, m.tuning.negationScope), s.in, []int{c}, opts)
	for _, cs := range scores {
		return s.cp.global.evidence(cs)
	}
	return ConditionEvidence{}
}

// explainAt sets the Example and Terms of the i-th score. It explains the
// scores around it in the same pass, the stretch of as many as one pass
// explains (scores 3 to 5, 6 to 8, ...) that holds it, and keeps the
// others aside (not in s.scores, which Rules reads) for when they are
// asked for: a turn asks for its matched rules past the best three one by
// one, in prompt order rather than by score, and a pass over the message
// costs about the same for one score as for three. Each score's
// explanation is its own, whatever is explained with it.
func (s *MessageScores) explainAt(i int) {
	b, m := s.bufs, s.cp.global.matcher
	if b == nil || m.placeAt == nil {
		// A large matcher's weights are searched for each score, so three
		// cost three times one: only the one asked for.
		m.explainMore(&s.read, s.scores[i:i+1])
		return
	}
	if k := i - b.aheadFrom; k >= 0 && k < b.aheadN {
		s.scores[i].Example, s.scores[i].Terms = b.ahead[k].Example, b.ahead[k].Terms
		return
	}
	from := i - i%matcherExplained
	b.aheadFrom, b.aheadN = from, copy(b.ahead[:], s.scores[from:])
	m.explainMore(&s.read, b.ahead[:b.aheadN])
	s.scores[i].Example, s.scores[i].Terms = b.ahead[i-from].Example, b.ahead[i-from].Terms
}

// StepScores are a message's scores at one step: its transitions, the
// scenario's exit condition, and staying. Their evidence names examples
// but no Terms: navigation records a step's options by score and example.
type StepScores struct {
	// Transitions are in the step's order.
	Transitions []ConditionEvidence
	// Exit is nil when the scenario has no exit condition.
	Exit *ConditionEvidence
	// Stay is how well the message fits the rest of the policy instead.
	Stay ConditionEvidence
	// Unexplained: no evidence names an example (Step of unexplained
	// scores, at a step that StepExplainsLater). ReadContext: the message
	// was read with the context (a short reply), which explaining it
	// later needs again.
	Unexplained, ReadContext bool
}

// StepExplainsLater reports whether a message's unexplained scores
// (ScoreMessageUnexplained) leave the examples of the step's scores
// unexplained too, for ScoreStep to give later: when each of its
// transitions leads to a step of its own, so that a move names the
// transition it weighed.
func (cp *CompiledPolicy) StepExplainsLater(scenarioID, stepID string) bool {
	sc := cp.Scenario(scenarioID)
	if sc == nil {
		return false
	}
	st := sc.Step(stepID)
	return st != nil && explainsLater(st)
}

// explainsLater is StepExplainsLater for st: no two of its transitions
// lead to the same step.
func explainsLater(st *Step) bool {
	for i, tr := range st.Transitions {
		for _, other := range st.Transitions[:i] {
			if other.To == tr.To {
				return false
			}
		}
	}
	return true
}

// ScoreStep scores text at a step. context is what the agent last asked
// (the step's instructions, the previous reply): a short reply is read
// with it. similarity is as for ScoreMessage. An unknown step, or one with
// neither transitions nor an exit, scores nothing.
func (cp *CompiledPolicy) ScoreStep(scenarioID, stepID, text, context string, similarity []float64) StepScores {
	return cp.scoreStep(scenarioID, stepID, readMessageText(text, defaultMatcherTuning.negationScope), context,
		cp.similarityOrNil(similarity), false, nil)
}

// Step is ScoreStep for the message s scored, with its similarities: the
// message is read once for both. Unexplained scores leave the step's
// unexplained when StepExplainsLater.
func (s *MessageScores) Step(scenarioID, stepID, context string) StepScores {
	var kept *keptArrays
	if s.bufs != nil {
		kept = &s.bufs.step
	}
	return s.cp.scoreStep(scenarioID, stepID, s.text, context, s.similarity, s.unexplained, kept)
}

// scoreStep is ScoreStep with the message read and its similarity checked,
// without what explains the scores when unexplained and the step
// explains later. The matcher's results are made in kept's array (nil:
// one of their own), which the evidence copies out of.
func (cp *CompiledPolicy) scoreStep(scenarioID, stepID string, text *messageText, context string, similarity []float64, unexplained bool, kept *keptArrays) StepScores {
	sc := cp.steps[stepRef{scenarioID, stepID}]
	if sc == nil {
		return StepScores{}
	}
	set := sc.compiled(cp)
	// The exit's evidence after the transitions': one allocation for
	// both, which the turn keeps together anyway. Transitions' capacity
	// ends before it, so that appending to them cannot overwrite it.
	nt, room := len(sc.transitions), len(sc.transitions)
	if sc.exit >= 0 {
		room++
	}
	evidence := make([]ConditionEvidence, nt, room)
	out := StepScores{Transitions: evidence[:nt:nt]}
	if set == nil {
		return out
	}
	// Without terms: navigation reads a step's scores and examples only.
	var opts scoreOptions
	if unexplained && sc.explainsLater {
		opts, out.Unexplained, out.ReadContext = skipExplain, true, set.matcher.readsContext(text, context)
	}
	scores, _ := set.matcher.scoreWith(text, set.input(text.text, context, similarity), set.all, opts, kept)
	// A step has a few conditions: finding one among the scores costs
	// less than a table of them made each turn.
	at := func(c int) ConditionEvidence {
		for _, cs := range scores {
			if cs.Condition == c {
				return set.evidence(cs)
			}
		}
		return ConditionEvidence{}
	}
	for i, c := range sc.transitions {
		out.Transitions[i] = at(c)
	}
	if sc.exit >= 0 {
		evidence = append(evidence, at(sc.exit))
		out.Exit = &evidence[nt]
	}
	out.Stay = at(sc.stay)
	return out
}
