package alignment

import (
	"fmt"

	"focal/domain"
)

// explanationParts are the steps' results the turn's explanation is made
// of.
type explanationParts struct {
	retrieval domain.Retrieval
	nav       navigation
	cands     ruleCandidates
	sel       selection
	calls     []domain.ToolCall
	rep       reply
	threshold float64 // match_threshold
}

// explain assembles the turn's explanation, once, from what each step
// decided.
func explain(p explanationParts) domain.Explanation {
	e := domain.NewExplanation()
	e.Retrieval = p.retrieval
	if p.sel.ranked != nil {
		e.Candidates = p.sel.ranked // recorded: a copy of its own
	}
	e.Filtered = p.cands.filtered
	for _, m := range p.sel.matched {
		reason := fmt.Sprintf("condition matched with score %.2f ≥ threshold %.2f", m.Score, p.threshold)
		if p.sel.judged {
			reason = fmt.Sprintf("rule judge found it applicable (score %.2f)", m.Score)
		}
		if m.Example != "" {
			reason += fmt.Sprintf("; most like the example %q", m.Example)
		}
		e.Matched = append(e.Matched, domain.RuleMatch{RuleID: m.RuleID, Score: m.Score, Reason: reason})
	}
	e.Scenario = p.nav.decision
	e.ToolCalls = append(e.ToolCalls, p.calls...)
	e.Generation = p.rep.generation
	e.Generation.ModelCalls += p.sel.modelCalls
	e.Enforcement = p.rep.enforcement
	return e
}
