package domain

import (
	"cmp"
	"slices"
)

// SelectRules decides which scored candidates apply: those scoring at least
// threshold, the best topK of them by score (priority breaking ties), ordered
// for the prompt by priority and then score. It marks the chosen candidates
// Matched and returns candidates sorted best first. Nothing matches when
// nothing clears the threshold: there is no "closest rule" fallback.
func SelectRules(cands []RuleCandidate, threshold float64, topK int) (ranked []RuleCandidate, matched []RuleCandidate) {
	n := RankRules(cands, threshold, topK)
	if n > 0 {
		// One array, sized: appending one by one grew it a few times.
		matched = slices.Clone(cands[:n])
	}
	PromptOrder(matched)
	return cands, matched
}

// RankRules is SelectRules in place: it sorts cands best first, marks the
// chosen ones Matched and returns how many there are (the first n), for a
// caller that copies them where it keeps them.
func RankRules(cands []RuleCandidate, threshold float64, topK int) int {
	slices.SortFunc(cands, func(a, b RuleCandidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.RuleID, b.RuleID)
	})
	n := 0
	for n < len(cands) && !(cands[n].Score < threshold) && n != topK {
		cands[n].Matched = true
		n++
	}
	return n
}

// PromptOrder orders matched candidates, best first, for the prompt: by
// priority, keeping the score order within one.
func PromptOrder(matched []RuleCandidate) {
	byPriority := func(a, b RuleCandidate) int { return cmp.Compare(b.Priority, a.Priority) }
	// Usually they are in order already (one match, or equal priorities):
	// checking is cheaper than a stable sort of them.
	if !slices.IsSortedFunc(matched, byPriority) {
		slices.SortStableFunc(matched, byPriority)
	}
}

// SelectJudged marks as matched the candidates the rule judge found
// applicable, the best topK of them by score; the others keep their scores
// in the record but do not match, whatever they scored.
func SelectJudged(cands []RuleCandidate, applicable map[string]bool, topK int) (ranked []RuleCandidate, matched []RuleCandidate) {
	ranked, _ = SelectRules(cands, 2, topK) // only to rank: no score reaches 2
	for i := range ranked {
		if applicable[ranked[i].RuleID] && len(matched) < topK {
			ranked[i].Matched = true
			matched = append(matched, ranked[i])
		}
	}
	PromptOrder(matched)
	return ranked, matched
}
