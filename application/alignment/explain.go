package alignment

import (
	"strconv"
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
// against threshold, and the example it is most like when it has one.
// It writes what fmt.Sprintf("... %.2f ... %q", ...) wrote, into one
// buffer on the stack: a turn explains each of its matches, and Sprintf
// boxed each argument and cost more than the rest of the explanation.
func matchReason(m domain.RuleCandidate, judged bool, threshold float64) string {
	var buf [192]byte
	var b []byte
	if judged {
		b = appendScore(append(buf[:0], "rule judge found it applicable (score "...), m.Score)
		b = append(b, ')')
	} else {
		b = appendScore(append(buf[:0], "condition matched with score "...), m.Score)
		b = appendScore(append(b, " ≥ threshold "...), threshold)
	}
	if m.Example != "" {
		b = appendQuoted(append(b, "; most like the example "...), m.Example)
	}
	return string(b)
}

// appendQuoted appends s as %q writes it (strconv.AppendQuote), which
// keeps printable ASCII other than the quote and the backslash as it is:
// an example of only those, the usual one, is copied, not quoted a rune
// at a time.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// appendScore appends v as fmt's %.2f writes it.
func appendScore(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'f', 2, 64) }

// explain assembles the turn's explanation, once, from what each step
// decided.
func explain(p explanationParts) domain.Explanation {
	e := domain.NewExplanation()
	d := p.turn
	mode := domain.RetrievalLexical
	if d.similarity != nil {
		mode = domain.RetrievalHybrid
	}
	e.Retrieval = domain.Retrieval{Mode: mode, Note: d.note, Judge: d.sel.judge, Deferred: d.unexplained,
		Context: d.stepContext}
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
	e.Generation.ModelCalls += d.sel.modelCalls + int(d.coll.modelCalls)
	e.Scenario.Reask = p.reask
	e.Variables = append(d.coll.record, toolSets(p.calls)...)
	if d.coll.note != "" {
		e.Scenario.Reason = strings.TrimPrefix(e.Scenario.Reason+"; ", "; ") + d.coll.note
	}
	e.Enforcement = p.rep.enforcement
	return e
}
