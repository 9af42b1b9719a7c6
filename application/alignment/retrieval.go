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
	// list is in an array of candidateLists until release.
	list     []domain.RuleCandidate
	filtered []domain.FilteredRule
	buf      *[]domain.RuleCandidate
}

// candidateLists hold turns' candidate lists between turns: a list lives
// only until its turn's rules are selected (what the turn records of it
// is copied), and a fresh one per turn was a tenth of a turn's allocated
// bytes.
var candidateLists = sync.Pool{New: func() any { return new([]domain.RuleCandidate) }}

// maxPooledCandidates is the longest list candidateLists keeps.
const maxPooledCandidates = 1024

// release hands the list back to candidateLists, emptied (nothing it
// held stays reachable from the pool); c.list is nil after.
func (c *ruleCandidates) release() {
	if c.buf == nil {
		return
	}
	clear(c.list)
	if cap(c.list) <= maxPooledCandidates {
		*c.buf = c.list[:0]
		candidateLists.Put(c.buf)
	}
	c.list, c.buf = nil, nil
}

// candidates keeps the scored rules in scope that may fire. A rule is in
// scope when it is in scope before or after this turn's scenario move: a
// scenario started this turn brings its rules at once, and one left this
// turn still answers the message that left it.
func candidates(cp *domain.CompiledPolicy, in ports.TurnInput, nav *navigation, m *matching) ruleCandidates {
	before := in.Session.Scenario
	buf := candidateLists.Get().(*[]domain.RuleCandidate)
	out := ruleCandidates{list: slices.Grow((*buf)[:0], m.message.NumRules()), buf: buf}
	for r := range m.message.EachRule {
		if !cp.InScope(r.Index, nav.position) && !cp.InScope(r.Index, before) {
			continue
		}
		if why := in.Session.FireBlocked(r.Rule, in.TurnNumber); why != "" {
			out.filtered = append(out.filtered, domain.FilteredRule{RuleID: r.Rule.ID, Reason: why})
			continue
		}
		out.list = append(out.list, domain.RuleCandidate{RuleID: r.Rule.ID, Score: r.Score, Lexical: r.Lexical,
			Semantic: r.Semantic, Example: r.Example, Terms: r.Terms, Priority: int32(r.Rule.Priority)})
	}
	return out
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
// best top_k of them.
func selectByScore(cp *domain.CompiledPolicy, cands []domain.RuleCandidate) selection {
	n := domain.RankRules(cands, cp.Settings.MatchThreshold, cp.Settings.TopK)
	// The recorded candidates and the matched ones are copied out of the
	// turn's list into one array, the matched after the recorded.
	r := min(len(cands), maxRecordedCandidates)
	kept := make([]domain.RuleCandidate, r+n)
	copy(kept, cands[:r])
	sel := selection{ranked: kept[:r:r]}
	if n > 0 {
		sel.matched = kept[r:]
		copy(sel.matched, cands[:n])
		domain.PromptOrder(sel.matched)
	}
	return sel
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
