package alignment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"focal/domain"
)

// selectRanked is selectByScore as it was, over domain.RuleCandidates: it
// ranks them all (domain.RankRules), the reference the selection that
// ranks only the kept ones must agree with.
func selectRanked(cp *domain.CompiledPolicy, cands []domain.RuleCandidate) selection {
	n := domain.RankRules(cands, cp.Settings.MatchThreshold, cp.Settings.TopK)
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

// generatedCandidates is a turn's candidate list over a generated policy,
// and the same candidates as selectRanked takes them.
func generatedCandidates(rng *rand.Rand) (ruleCandidates, []domain.RuleCandidate) {
	rules := make([]domain.Rule, 1+rng.IntN(150))
	for i := range rules {
		rules[i].ID = fmt.Sprintf("r%03d", rng.IntN(1000)*1000+i) // unique, not in declaration order
		rules[i].Priority = rng.IntN(5) - 2
	}
	cp := &domain.CompiledPolicy{Policy: &domain.Policy{Rules: rules}}
	cp.Settings.TopK = []int{0, 1, 3, 5, 19, 20, 21, 50, -1}[rng.IntN(9)]
	cp.Settings.MatchThreshold = []float64{0, 0.3, 0.5, 0.9, 2}[rng.IntN(5)]
	c := ruleCandidates{cp: cp}
	scores := []float64{0, 0.25, 0.5, 0.75, 1, math.NaN()}
	for _, i := range rng.Perm(len(rules))[:rng.IntN(len(rules)+1)] {
		sc := scoredCandidate{rule: int32(i), priority: int32(rules[i].Priority), lexical: rng.Float64(), semantic: rng.Float64()}
		if rng.IntN(3) == 0 {
			sc.score = scores[rng.IntN(len(scores))] // ties, and now and then NaN
		} else {
			sc.score = math.Round(rng.Float64()*100) / 100
		}
		if rng.IntN(4) == 0 {
			c.evidence = append(c.evidence, candidateEvidence{example: "example of " + rules[i].ID, terms: []string{rules[i].ID}})
			sc.evidence = int32(len(c.evidence))
		}
		c.list = append(c.list, sc)
	}
	if rng.IntN(2) == 0 { // as the matcher yields them: best score first
		slices.SortStableFunc(c.list, func(a, b scoredCandidate) int { return -compareScores(a.score, b.score) })
	}
	return c, c.all()
}

func compareScores(a, b float64) int {
	switch {
	case a < b || math.IsNaN(a) && !math.IsNaN(b):
		return -1
	case a > b || math.IsNaN(b) && !math.IsNaN(a):
		return 1
	}
	return 0
}
