package domain

import (
	"cmp"
	"slices"
)

// MatchInput is one message to score.
type MatchInput struct {
	Text string
	// Context is what the agent last asked (the current step's question,
	// the previous reply), optional. Short replies ("yes", "the second
	// one", "it's 123456") are scored with it mixed in, the shorter the
	// reply the more.
	Context string
	// Semantic, optional: cosine similarity (-1..1) of the message to every
	// example of every condition, flattened in condition order then example
	// order (len == NumExamples()); NaN marks a similarity not computed
	// (say, outside an approximate index's neighbours). nil without an
	// embedder; a slice of another length is ignored.
	Semantic []float64
}

// ConditionScore is one condition's calibrated score for a message, with
// what explains it.
type ConditionScore struct {
	Condition int     // index into the compiled conditions
	Score     float64 // calibrated probability that the condition applies, 0..1
	Lexical   float64 // the lexical signal's calibrated probability, 0..1
	Semantic  float64 // the semantic signal's, 0..1 (0 without)
	// Margin is the lexical model's raw log-odds before calibration.
	Margin float64
	// Example is the index within the condition of the example most like
	// the message (-1 if none): the most similar by embedding when the
	// semantic signal decided, otherwise by shared words.
	Example int
	// Terms are up to three of the message's words (normalised) that
	// raised the condition's lexical score most.
	Terms []string
}

// matcherExplained is how many of the best results carry Example and Terms.
const matcherExplained = 5

// matcherContextWords is the reply length (in words) from which Context no
// longer counts.
const matcherContextWords = 6

// Score scores the message against candidates (indexes into the compiled
// conditions; nil means all) and returns them best first, ties by index.
// With nil, conditions scoring below the ReportFloor option are left out.
// The lexical cost grows with the postings of the message's features, not
// with the number of conditions; the semantic signal reads Semantic once.
func (m *Matcher) Score(in MatchInput, candidates []int) []ConditionScore {
	words := matcherWords(in.Text, m.tuning.negationScope)
	feats := extractFeatures(words)
	q := m.vocab.vector(feats)
	if in.Context != "" && len(words) < matcherContextWords {
		ctx := m.vocab.vector(extractFeatures(matcherWords(in.Context, m.tuning.negationScope)))
		q = addContext(q, ctx, 1.2*(1-float64(len(words))/matcherContextWords))
	}
	buf := m.scratch.Get().(*[]float64)
	defer m.scratch.Put(buf)
	acc := *buf
	m.margins(&q, acc)
	first, second := topTwo(acc)
	sem := m.semanticEvidence(in.Semantic)

	score := func(c int) ConditionScore {
		lex := m.cal.prob([calibrationFeatures]float64{acc[c], lead(acc, c, first, second)})
		cs := ConditionScore{Condition: c, Score: lex, Lexical: lex, Margin: acc[c], Example: -1}
		if sem != nil {
			cs.Semantic = sem.prob(c)
			// Naive Bayes: each signal's log-odds beyond what the lexical
			// signal says of a message it knows nothing about.
			cs.Score = sigmoid(logit(cs.Semantic) + logit(lex) - m.priorLogit[c])
		}
		return cs
	}
	var out []ConditionScore
	switch {
	case candidates != nil:
		out = make([]ConditionScore, 0, len(candidates))
		for _, c := range candidates {
			if c >= 0 && c < len(acc) {
				out = append(out, score(c))
			}
		}
	case sem != nil:
		for c := range acc {
			if cs := score(c); cs.Score >= m.opts.ReportFloor {
				out = append(out, cs)
			}
		}
	default:
		// The lexical score rises with the margin (for every condition but
		// the first, the lead is the margin minus the first's), so one
		// comparison per condition finds those above the floor.
		floor := m.cal.marginFloor(m.opts.ReportFloor, acc[first])
		for c, v := range acc {
			if v >= floor || c == first {
				if cs := score(c); cs.Score >= m.opts.ReportFloor {
					out = append(out, cs)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b ConditionScore) int {
		if a.Score != b.Score {
			return cmp.Compare(b.Score, a.Score)
		}
		return cmp.Compare(a.Condition, b.Condition)
	})
	for k := range out[:min(matcherExplained, len(out))] {
		m.explain(&out[k], words, feats, &q, sem)
	}
	return out
}
