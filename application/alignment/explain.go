package alignment

import (
	"fmt"
	"strings"

	"focal/domain"
)

// explanationParts are the steps' results the turn's explanation is made
// of.
type explanationParts struct {
	turn  *decided
	calls []domain.ToolCall
	rep   reply
	reask string
}

// matchReason says why candidate m matched: by the judge or by score
// against threshold, and the example it is most like when it has one
// (one Sprintf: a turn explains each of its matches).
func matchReason(m domain.RuleCandidate, judged bool, threshold float64) string {
	switch {
	case judged && m.Example != "":
		return fmt.Sprintf("rule judge found it applicable (score %.2f); most like the example %q", m.Score, m.Example)
	case judged:
		return fmt.Sprintf("rule judge found it applicable (score %.2f)", m.Score)
	case m.Example != "":
		return fmt.Sprintf("condition matched with score %.2f ≥ threshold %.2f; most like the example %q", m.Score, threshold, m.Example)
	default:
		return fmt.Sprintf("condition matched with score %.2f ≥ threshold %.2f", m.Score, threshold)
	}
}

// explain assembles the turn's explanation, once, from what each step
// decided.
func explain(p explanationParts) domain.Explanation {
	e := domain.NewExplanation()
	d := p.turn
	mode := domain.RetrievalLexical
	if d.similarity != nil {
		mode = domain.RetrievalHybrid
	}
	e.Retrieval = domain.Retrieval{Mode: mode, Note: d.note, Judge: d.sel.judge}
	if d.sel.ranked != nil {
		e.Candidates = d.sel.ranked // recorded: a copy of its own
	}
	e.Filtered = d.filtered
	if len(d.sel.matched) > 0 {
		e.Matched = make([]domain.RuleMatch, 0, len(d.sel.matched))
	}
	for _, m := range d.sel.matched {
		e.Matched = append(e.Matched, domain.RuleMatch{RuleID: m.RuleID, Score: m.Score,
			Reason: matchReason(m, d.sel.judged, d.cp.Settings.MatchThreshold)})
	}
	e.Scenario = d.nav.decision
	e.ToolCalls = append(e.ToolCalls, p.calls...)
	e.Generation = p.rep.generation
	e.Generation.ModelCalls += d.sel.modelCalls + d.coll.modelCalls
	e.Scenario.Reask = p.reask
	e.Variables = append(d.coll.record, toolSets(p.calls)...)
	if d.coll.note != "" {
		e.Scenario.Reason = strings.TrimPrefix(e.Scenario.Reason+"; ", "; ") + d.coll.note
	}
	e.Enforcement = p.rep.enforcement
	return e
}
