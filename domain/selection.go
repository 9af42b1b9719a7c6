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
		return CompareRank(a.Score, a.Priority, a.RuleID, b.Score, b.Priority, b.RuleID)
	})
	n := 0
	for n < len(cands) && !(cands[n].Score < threshold) && n != topK {
		cands[n].Matched = true
		n++
	}
	return n
}

// CompareRank orders two candidates, given by score, priority and rule id,
// as a turn ranks them: by score, then priority, highest first, then by
// rule id. A NaN score ranks below every other (cmp.Compare's order).
func CompareRank(aScore float64, aPriority int32, aID string, bScore float64, bPriority int32, bID string) int {
	if c := cmp.Compare(bScore, aScore); c != 0 {
		return c
	}
	if c := cmp.Compare(bPriority, aPriority); c != 0 {
		return c
	}
	return cmp.Compare(aID, bID)
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
