package alignment

import (
	"focal/domain"
	"focal/ports"
)

// maxRecordedCandidates bounds the candidates kept in a turn's explanation;
// with thousands of rules the long tail says nothing.
const maxRecordedCandidates = 20

// ruleCandidates are the rules that may match this turn, scored, and the
// rules in scope that may not fire, with why.
type ruleCandidates struct {
	list     []domain.RuleCandidate
	filtered []domain.FilteredRule
}

// candidates keeps the scored rules in scope that may fire. A rule is in
// scope when it is in scope before or after this turn's scenario move: a
// scenario started this turn brings its rules at once, and one left this
// turn still answers the message that left it.
func candidates(cp *domain.CompiledPolicy, in ports.TurnInput, nav *navigation, m *matching) ruleCandidates {
	before := in.Session.Scenario
	out := ruleCandidates{list: make([]domain.RuleCandidate, 0, m.message.NumRules())}
	for r := range m.message.EachRule {
		if !cp.InScope(r.Index, nav.position) && !cp.InScope(r.Index, before) {
			continue
		}
		if why := in.Session.FireBlocked(r.Rule, in.TurnNumber); why != "" {
			out.filtered = append(out.filtered, domain.FilteredRule{RuleID: r.Rule.ID, Reason: why})
			continue
		}
		out.list = append(out.list, domain.RuleCandidate{RuleID: r.Rule.ID, Score: r.Score, Lexical: r.Lexical,
			Semantic: r.Semantic, Example: r.Example, Terms: r.Terms, Priority: r.Rule.Priority})
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
	ranked, matched := domain.SelectRules(cands, cp.Settings.MatchThreshold, cp.Settings.TopK)
	return selection{ranked: recorded(ranked), matched: matched}
}

// selectJudged matches the candidates the judge found applicable.
func selectJudged(cp *domain.CompiledPolicy, cands []domain.RuleCandidate, applicable map[string]bool) selection {
	ranked, matched := domain.SelectJudged(cands, applicable, cp.Settings.TopK)
	return selection{ranked: recorded(ranked), matched: matched, judged: true}
}

// recorded are the candidates a turn's explanation keeps: the best
// maxRecordedCandidates of ranked. The record keeps ranked's own array
// when it holds no more than that (the candidates are not used after the
// turn), a copy otherwise, so that a stored turn does not hold on to the
// long tail.
func recorded(ranked []domain.RuleCandidate) []domain.RuleCandidate {
	if ranked != nil && cap(ranked) <= maxRecordedCandidates {
		return ranked[:len(ranked):len(ranked)]
	}
	return append([]domain.RuleCandidate{}, ranked[:min(len(ranked), maxRecordedCandidates)]...)
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
