package domain

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// termsBySorting is topTerms written the plain way: every word with
// credit, ordered by credit (highest first) then position, the first
// three distinct terms.
func termsBySorting(words []matcherWord, credit []float64) []string {
	var order []int
	for i, c := range credit {
		if c > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case credit[a] > credit[b]:
			return -1
		case credit[a] < credit[b]:
			return 1
		}
		return 0
	})
	var out []string
	for _, i := range order {
		t := words[i].stem
		if words[i].negated {
			t = "not " + t
		}
		if !slices.Contains(out, t) && len(out) < 3 {
			out = append(out, t)
		}
	}
	return out
}

// A message's top terms are its three distinct words (a negated one apart
// from the plain one) with the most credit, ties to the earlier word,
// however often a word repeats: the same as sorting every word, on
// messages of few distinct words (many repeats, many ties) and of many.
func TestTopTermsAreTheThreeDistinctWordsWithMostCredit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 2000 {
		n := 1 + rng.IntN(40)
		vocab := 1 + rng.IntN(6)
		words := make([]matcherWord, n)
		credit := make([]float64, n)
		for i := range words {
			words[i] = matcherWord{stem: string(rune('a' + rng.IntN(vocab))), negated: rng.IntN(4) == 0}
			credit[i] = float64(rng.IntN(5) - 1) // ties, zeros and negatives
		}
		got := topTerms(make([]string, 0, 3), words, credit)
		want := termsBySorting(words, credit)
		if len(want) == 0 {
			require.Nil(t, got, "trial %d", trial)
			continue
		}
		require.Equal(t, want, got, "trial %d: %v %v", trial, words, credit)
	}
	// A word said ten thousand times, then two others: all three are
	// found, in credit order.
	words := slices.Repeat([]matcherWord{{stem: "card"}}, 10000)
	words = append(words, matcherWord{stem: "lost"}, matcherWord{stem: "card", negated: true})
	credit := slices.Repeat([]float64{2}, len(words))
	credit[10000], credit[10001] = 1, 0.5
	require.Equal(t, []string{"card", "lost", "not card"}, topTerms(make([]string, 0, 3), words, credit))
}

// BenchmarkMatcherScoreLongMessage scores messages of the longest size a
// turn takes (10,000 characters) against 150 conditions: one word said
// two thousand times, and real phrasings one after another.
func BenchmarkMatcherScoreLongMessage(b *testing.B) {
	m, err := CompileMatcher(syntheticConditions(b, 150, 10), MatcherOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var real []string
	for _, r := range readBanking77(b, "test.csv")[:400] {
		real = append(real, r.text)
	}
	for name, msg := range map[string]string{
		"repeated": strings.Repeat("card ", 2000)[:10000],
		"real":     strings.Join(real, " ")[:10000],
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				m.Score(MatchInput{Text: msg}, nil)
			}
		})
	}
}
