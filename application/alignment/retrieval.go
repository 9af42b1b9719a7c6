package alignment

import (
	"slices"
	"sync"

	"focal/domain"
	"focal/ports"
)

// maxRecordedCandidates bounds the candidates kept in a turn's explanation;
// with thousands of rules the long tail says nothing.
const maxRecordedCandidates = 20

// ruleCandidates are the rules that may match this turn, scored, and the
// rules in scope that may not fire, with why.
type ruleCandidates struct {
	cp *domain.CompiledPolicy
	// list and evidence are in a candidateLists buffer until release.
	list     []scoredCandidate
	evidence []candidateEvidence
	filtered []domain.FilteredRule
	buf      *candidateBuffer
	// kept is where selectByScore keeps the recorded candidates when the
	// run has a space (keptArray), nil otherwise.
	kept *[]domain.RuleCandidate
}

// scoredCandidate is a candidate as it is ranked: the rule's place in
// the policy and its scores, without pointers, so that a turn's list is
// written, ranked and dropped without the collector's barriers; only the
// few candidates a turn records become domain.RuleCandidates.
type scoredCandidate struct {
	score, lexical, semantic float64
	rule                     int32 // in Policy.Rules
	priority                 int32
	// evidence is 1 + the candidate's place in ruleCandidates.evidence
	// when its scores came with an example or terms, else 0.
	evidence int32
}

// candidateEvidence is what explains a candidate's score.
type candidateEvidence struct {
	example string
	terms   []string
}

// candidateBuffer is a turn's candidate list and evidence between turns.
type candidateBuffer struct {
	list     []scoredCandidate
	evidence []candidateEvidence
}

// candidateLists hold turns' candidate lists between turns: a list lives
// only until its turn's rules are selected (what the turn records of it
// is copied), and a fresh one per turn was a tenth of a turn's allocated
// bytes.
var candidateLists = sync.Pool{New: func() any { return new(candidateBuffer) }}

// maxPooledCandidates is the longest list candidateLists keeps.
const maxPooledCandidates = 1024

// release hands the list back to candidateLists, its evidence emptied
// (nothing it held stays reachable from the pool); c's lists are nil
// after.
func (c *ruleCandidates) release() {
	if c.buf == nil {
		return
	}
	clear(c.evidence)
	if cap(c.list) <= maxPooledCandidates && cap(c.evidence) <= maxPooledCandidates {
		c.buf.list, c.buf.evidence = c.list[:0], c.evidence[:0]
		candidateLists.Put(c.buf)
	}
	c.list, c.evidence, c.buf = nil, nil, nil
}

// candidates keeps the scored rules in scope that may fire. A rule is in
// scope when it is in scope before or after this turn's scenario move: a
// scenario started this turn brings its rules at once, and one left this
// turn still answers the message that left it.
func candidates(cp *domain.CompiledPolicy, in ports.TurnInput, nav *navigation, m *matching) ruleCandidates {
	before := in.Session.Scenario
	buf := candidateLists.Get().(*candidateBuffer)
	out := ruleCandidates{cp: cp, list: slices.Grow(buf.list[:0], m.message.NumRules()), evidence: buf.evidence[:0], buf: buf}
	for r := range m.message.EachRule {
		if !cp.InScope(r.Index, nav.position) && !cp.InScope(r.Index, before) {
			continue
		}
		if why := in.Session.FireBlocked(r.Rule, in.TurnNumber); why != "" {
			out.filtered = append(out.filtered, domain.FilteredRule{RuleID: r.Rule.ID, Reason: why})
			continue
		}
		c := scoredCandidate{score: r.Score, lexical: r.Lexical, semantic: r.Semantic, rule: int32(r.Index),
			priority: int32(r.Rule.Priority)}
		if r.Example != "" || r.Terms != nil {
			out.evidence = append(out.evidence, candidateEvidence{example: r.Example, terms: r.Terms})
			c.evidence = int32(len(out.evidence))
		}
		out.list = append(out.list, c)
	}
	return out
}

// fill writes sc into rc, a zero candidate, as the turn's record holds
// it: field by field, into the array it is kept in.
func (c *ruleCandidates) fill(rc *domain.RuleCandidate, sc *scoredCandidate, matched bool) {
	rc.RuleID, rc.Score, rc.Lexical, rc.Semantic = c.cp.Policy.Rules[sc.rule].ID, sc.score, sc.lexical, sc.semantic
	rc.Priority, rc.Matched = sc.priority, matched
	if sc.evidence > 0 {
		ev := &c.evidence[sc.evidence-1]
		rc.Example, rc.Terms = ev.example, ev.terms
	}
}

// all are the candidates as domain.RuleCandidates, in the list's order:
// what the rule judge weighs, all of them.
func (c *ruleCandidates) all() []domain.RuleCandidate {
	out := make([]domain.RuleCandidate, len(c.list))
	for i := range c.list {
		c.fill(&out[i], &c.list[i], false)
	}
	return out
}

// better reports whether a ranks before b (domain.CompareRank).
func (c *ruleCandidates) better(a, b *scoredCandidate) bool {
	rules := c.cp.Policy.Rules
	return domain.CompareRank(a.score, a.priority, rules[a.rule].ID, b.score, b.priority, rules[b.rule].ID) < 0
}

// maxInsertionRank is the most candidates rankBest ranks by insertion;
// beyond it, the list is sorted.
const maxInsertionRank = 64

// rankBest moves the best k candidates, in order, to the front of the
// list, as a sort of the whole list by better would put them; the rest
// are left in no order. The matcher yields the rules best score first, so
// once the first k are in, most of the others are turned away by one
// comparison, where sorting the whole list moved every candidate.
func (c *ruleCandidates) rankBest(k int) {
	list := c.list
	if k > maxInsertionRank {
		slices.SortFunc(list, func(a, b scoredCandidate) int {
			if c.better(&a, &b) {
				return -1
			}
			if c.better(&b, &a) {
				return 1
			}
			return 0
		})
		return
	}
	if k <= 0 {
		return
	}
	// A lower score is never better: tested here, it spares the call for
	// most candidates (a NaN is not lower, and goes to better).
	for i := range list {
		x := list[i]
		j := i
		if i >= k {
			if x.score < list[k-1].score || !c.better(&x, &list[k-1]) {
				continue
			}
			list[i] = list[k-1] // the worst of the best drops out
			j = k - 1
		}
		for ; j > 0 && !(x.score < list[j-1].score) && c.better(&x, &list[j-1]); j-- {
			list[j] = list[j-1]
		}
		list[j] = x
	}
}

// selection is which candidates apply, and how that was decided.
type selection struct {
	// ranked are the candidates best first (at most
	// maxRecordedCandidates), matched the ones that apply, in prompt order.
	ranked, matched []domain.RuleCandidate
	// judge is the rule judge's decision when it ran; judged is true when
	// its answer decided.
	judge  *domain.JudgeDecision
	judged bool
	// usage and modelCalls are the judge's.
	usage      domain.TokenUsage
	modelCalls int
}

// selectByScore matches the candidates that clear match_threshold, the
// best top_k of them. It ranks only the candidates the turn keeps: the
// recorded ones and the matched ones (ranking them all, as
// domain.RankRules does, must give the same).
func selectByScore(c *ruleCandidates) selection {
	topK := c.cp.Settings.TopK
	r := min(len(c.list), maxRecordedCandidates)
	k := len(c.list) // top_k is at least 1 once validated; below 0, unbounded
	if topK >= 0 {
		k = max(r, min(topK, len(c.list)))
	}
	c.rankBest(k)
	threshold := c.cp.Settings.MatchThreshold
	n := 0
	for n < len(c.list) && !(c.list[n].score < threshold) && n != topK {
		n++
	}
	// The recorded candidates and the matched ones are made in one array,
	// the matched after the recorded, in prompt order; or, when the
	// recorded begin with the matched in prompt order already (one match,
	// or no priority above a better match's), the matched are those: the
	// turn only reads them, and explaining them writes the same evidence
	// to both.
	shared := n <= r && c.inPromptOrder(n)
	size := r + n
	if shared {
		size = r
	}
	kept := keptArray(c.kept, size)
	for i := range r {
		c.fill(&kept[i], &c.list[i], i < n)
	}
	sel := selection{ranked: kept[:r:r]}
	switch {
	case n == 0:
	case shared:
		sel.matched = kept[:n:n]
	default:
		sel.matched = kept[r:]
		c.promptOrder(n)
		for i := range n {
			c.fill(&sel.matched[i], &c.list[i], true)
		}
	}
	return sel
}

// inPromptOrder reports whether the best n candidates are in prompt
// order as ranked: no priority above the one before it.
func (c *ruleCandidates) inPromptOrder(n int) bool {
	for i := 1; i < n; i++ {
		if c.list[i].priority > c.list[i-1].priority {
			return false
		}
	}
	return true
}

// promptOrder puts the best n candidates in prompt order, as
// domain.PromptOrder does (by priority, highest first, keeping the rank
// order within one): ordered here, a candidate is a few words to move.
func (c *ruleCandidates) promptOrder(n int) {
	best := c.list[:n]
	for i := 1; i < len(best); i++ {
		x := best[i]
		j := i
		for ; j > 0 && best[j-1].priority < x.priority; j-- {
			best[j] = best[j-1]
		}
		best[j] = x
	}
}

// selectJudged matches the candidates the judge found applicable.
func selectJudged(cp *domain.CompiledPolicy, cands []domain.RuleCandidate, applicable map[string]bool) selection {
	ranked, matched := domain.SelectJudged(cands, applicable, cp.Settings.TopK)
	return selection{ranked: recorded(ranked), matched: matched, judged: true}
}

// recorded are the candidates a turn's explanation keeps: a copy of the
// best maxRecordedCandidates of ranked (whose array is the turn's
// candidate list, handed back to candidateLists once rules are selected),
// never nil.
func recorded(ranked []domain.RuleCandidate) []domain.RuleCandidate {
	out := make([]domain.RuleCandidate, min(len(ranked), maxRecordedCandidates))
	copy(out, ranked)
	return out
}

// explainMatches names the supporting example of each matched rule that
// the matcher's scores left without one (it explains only its best few
// conditions), so every match in the record can be explained.
func explainMatches(sel selection, scores *domain.MessageScores, cp *domain.CompiledPolicy) selection {
	for i, m := range sel.matched {
		if m.Example != "" {
			continue
		}
		ev := scores.ExplainRule(cp.RuleIndex(m.RuleID))
		sel.matched[i].Example, sel.matched[i].Terms = ev.Example, ev.Terms
		for k := range sel.ranked {
			if sel.ranked[k].RuleID == m.RuleID {
				sel.ranked[k].Example, sel.ranked[k].Terms = ev.Example, ev.Terms
			}
		}
	}
	return sel
}
