package domain

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Conditions level on margin tie on log-odds, and the lower index wins
// the last place, as when every condition is ranked.
func TestShortlistBreaksTiesByIndex(t *testing.T) {
	m := &Matcher{cal: calibrationPrior, opts: MatcherOptions{MaxResults: 2}.withDefaults()}
	acc := []float64{0.5, 3, 1, 1, 2, 1, 1}
	first, second := topTwo(acc)
	got := m.bestLexical(nil, acc, first, second)
	slices.SortFunc(got, func(a, b scored) int { return a.c - b.c })
	if len(got) != 2 || got[0].c != 1 || got[1].c != 4 {
		t.Fatalf("got %v", got)
	}
	m.opts.MaxResults = 3
	got = m.bestLexical(nil, acc, first, second)
	slices.SortFunc(got, func(a, b scored) int { return a.c - b.c })
	if len(got) != 3 || got[0].c != 1 || got[1].c != 2 || got[2].c != 4 {
		t.Fatalf("with three: got %v, want conditions 1, 2 and 4 (2 the first of the tied)", got)
	}
}

// Shortlisting chooses what ranking every condition chooses for margins
// with many ties, under calibrations that rise and fall with the margin
// (a calibration fitted to 10,000 synthetic conditions falls), for any
// number of results and floor.
func TestShortlistMatchesRankingUnderAnyCalibration(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	cals := []calibration{calibrationPrior, {w: [2]float64{0.61, -0.054}, b: -1.14}, {w: [2]float64{-1.09, -0.043}, b: -5.97}}
	for _, cal := range cals {
		for range 300 {
			m := &Matcher{cal: cal, opts: MatcherOptions{MaxResults: 1 + rng.IntN(8), ReportFloor: []float64{1e-9, 0.01, 0.2, 0.6}[rng.IntN(4)]}.withDefaults()}
			acc := make([]float64, 1+rng.IntN(60))
			for c := range acc {
				acc[c] = float64(rng.IntN(7)-3) * 1.5 // few values: many ties
				if rng.IntN(3) == 0 {
					acc[c] += rng.NormFloat64()
				}
			}
			first, second := topTwo(acc)
			z := make([]float64, len(acc))
			for c := range z {
				z[c] = cal.logit([calibrationFeatures]float64{acc[c], lead(acc, c, first, second)})
			}
			want := bestConditions(nil, z, m.opts.MaxResults, logit(m.opts.ReportFloor))
			got := m.bestLexical(nil, acc, first, second)
			byCond := func(a, b scored) int { return a.c - b.c }
			slices.SortFunc(want, byCond)
			slices.SortFunc(got, byCond)
			if !slices.Equal(got, want) {
				t.Fatalf("%+v, %d results over %.3g, margins %v: shortlisted %v, ranked %v", cal, m.opts.MaxResults, m.opts.ReportFloor, acc, got, want)
			}
		}
	}
}
