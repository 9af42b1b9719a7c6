//go:build !race

// The digests below were taken on amd64 and hold on every architecture:
// the scoring code never lets the compiler fuse a multiply and an add, and
// computes exp and log itself (domain/portable_math.go). scripts/test.sh
// runs these tests on arm64 under qemu-aarch64 as well.

package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatcherScoresUnchanged pins every field of every result, to the bit,
// for a third of Banking77's test messages: alone, with a context (as a step reads a
// short reply), with similarities (the semantic signal, with unknown
// ones), against chosen candidates, and explained past the first three.
// Scoring is rewritten for speed from time to time; what it returns must
// not move. The digests were taken before the matcher's per-turn work was
// restructured (sorting, sharing a message's features between matchers,
// lazy buffers).
func TestMatcherScoresUnchanged(t *testing.T) {
	train, test := readBanking77(t, "train.csv"), readBanking77(t, "test.csv")
	b77, _ := banking77Conditions(train, 40)
	cases := []struct {
		name  string
		conds []MatcherCondition
	}{
		{"banking77", b77},
		{"synthetic300", syntheticConditions(t, 300, 6)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := CompileMatcher(tc.conds, MatcherOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := scoreDigest(m, test); got != goldenScoreDigests[tc.name] {
				t.Errorf("scores changed: digest %s, want %s", got, goldenScoreDigests[tc.name])
			}
		})
	}
}

var goldenScoreDigests = map[string]string{
	"banking77":    "4ee0b5d81fb9e5c74059607d8db50e3236d81a59be2f80181c308d098722f128",
	"synthetic300": "a01e578a291ba0bb76c00ec56d468bb7fa5cb13b13bbd761c8cd56e7d2712815",
}

// scoreDigest hashes m's results for every message, read four ways.
func scoreDigest(m *Matcher, test []labelledText) string {
	h := sha256.New()
	rng := rand.New(rand.NewPCG(7, 11))
	sims := make([]float64, m.NumExamples())
	for i, r := range test {
		if i%3 != 0 {
			continue // a third of them is variety enough, and keeps the race detector's run short
		}
		for j := range sims {
			sims[j] = rng.Float64()*2 - 1
			if rng.IntN(4) == 0 {
				sims[j] = math.NaN()
			}
		}
		ctx := test[(i*31+5)%len(test)].text
		inputs := []MatchInput{{Text: r.text}, {Text: r.text, Context: ctx}, {Text: r.text, Semantic: sims},
			{Text: r.text, Context: ctx, Semantic: sims}}
		for k, in := range inputs {
			out, read := m.score(in, nil)
			m.explainMore(&read, out)
			writeScores(h, k, out)
			cands := []int{i % m.NumConditions(), (i * 7) % m.NumConditions(), -1, m.NumConditions()}
			writeScores(h, k+10, m.Score(in, cands))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeScores(h hash.Hash, k int, out []ConditionScore) {
	fmt.Fprintf(h, "%d:%d\n", k, len(out))
	for _, cs := range out {
		fmt.Fprintf(h, "%d %x %x %x %x %d %q\n", cs.Condition, math.Float64bits(cs.Score), math.Float64bits(cs.Lexical),
			math.Float64bits(cs.Semantic), math.Float64bits(cs.Margin), cs.Example, cs.Terms)
	}
}
