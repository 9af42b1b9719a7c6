package domain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

func cand(id string, score float64, priority int32) domain.RuleCandidate {
	return domain.RuleCandidate{RuleID: id, Score: score, Lexical: score, Priority: priority}
}

func ids(cs []domain.RuleCandidate) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.RuleID)
	}
	return out
}

func matchedIDs(cs []domain.RuleCandidate) []string {
	var out []string
	for _, c := range cs {
		if c.Matched {
			out = append(out, c.RuleID)
		}
	}
	return out
}

func TestSelectRules(t *testing.T) {
	tests := []struct {
		name        string
		cands       []domain.RuleCandidate
		threshold   float64
		topK        int
		wantRanked  []string
		wantMatched []string // prompt order
	}{
		{
			name:        "only candidates at or over the threshold match",
			cands:       []domain.RuleCandidate{cand("low", 0.34, 0), cand("edge", 0.35, 0), cand("high", 0.9, 0)},
			threshold:   0.35,
			topK:        5,
			wantRanked:  []string{"high", "edge", "low"},
			wantMatched: []string{"high", "edge"},
		},
		{
			name:        "nothing over the threshold: no closest-rule fallback",
			cands:       []domain.RuleCandidate{cand("a", 0.3, 100), cand("b", 0.2, 0)},
			threshold:   0.35,
			topK:        5,
			wantRanked:  []string{"a", "b"},
			wantMatched: nil,
		},
		{
			name:        "top k by score",
			cands:       []domain.RuleCandidate{cand("a", 0.5, 0), cand("b", 0.9, 0), cand("c", 0.7, 0), cand("d", 0.6, 0)},
			threshold:   0.35,
			topK:        2,
			wantRanked:  []string{"b", "c", "d", "a"},
			wantMatched: []string{"b", "c"},
		},
		{
			name:        "priority breaks score ties for the last slot",
			cands:       []domain.RuleCandidate{cand("a", 0.8, 1), cand("b", 0.8, 5), cand("c", 0.8, -3)},
			threshold:   0.35,
			topK:        1,
			wantRanked:  []string{"b", "a", "c"},
			wantMatched: []string{"b"},
		},
		{
			name:        "rule id breaks full ties deterministically",
			cands:       []domain.RuleCandidate{cand("z", 0.8, 0), cand("m", 0.8, 0), cand("a", 0.8, 0)},
			threshold:   0.35,
			topK:        2,
			wantRanked:  []string{"a", "m", "z"},
			wantMatched: []string{"a", "m"},
		},
		{
			name:        "matched ordered by priority, then score, for the prompt",
			cands:       []domain.RuleCandidate{cand("best", 0.95, 0), cand("urgent", 0.5, 50), cand("mid", 0.7, 0), cand("neg", 0.9, -10)},
			threshold:   0.35,
			topK:        5,
			wantRanked:  []string{"best", "neg", "mid", "urgent"},
			wantMatched: []string{"urgent", "best", "mid", "neg"},
		},
		{
			name:        "a high-priority rule under the threshold never matches",
			cands:       []domain.RuleCandidate{cand("vip", 0.2, 100), cand("ok", 0.4, 0)},
			threshold:   0.35,
			topK:        5,
			wantRanked:  []string{"ok", "vip"},
			wantMatched: []string{"ok"},
		},
		{
			name:        "no candidates",
			cands:       nil,
			threshold:   0.35,
			topK:        5,
			wantRanked:  []string{},
			wantMatched: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ranked, matched := domain.SelectRules(tt.cands, tt.threshold, tt.topK)
			require.Equal(t, tt.wantRanked, ids(ranked))
			if tt.wantMatched == nil {
				require.Empty(t, matched)
				require.Empty(t, matchedIDs(ranked))
				return
			}
			require.Equal(t, tt.wantMatched, ids(matched))
			for _, m := range matched {
				require.True(t, m.Matched, m.RuleID)
				require.GreaterOrEqual(t, m.Score, tt.threshold)
			}
			require.ElementsMatch(t, tt.wantMatched, matchedIDs(ranked))
		})
	}
}
