package domain

import (
	"cmp"
	"slices"
	"strings"
)

// MatcherCheck is what CheckMatcher found in a set of conditions.
type MatcherCheck struct {
	Conditions []ConditionCheck // one per condition, in order
	// Collisions are pairs of examples of different conditions that are
	// identical or nearly so once normalised: the matcher cannot tell
	// those conditions apart on them.
	Collisions []ExampleCollision
}

// ConditionCheck is how a condition's own examples fare when each is left
// out of training and scored like a new message.
type ConditionCheck struct {
	Checked int // examples checked (every one, up to CheckMatcher's sample)
	// Confused counts checked examples that another condition outscored.
	Confused int
	// Missed counts checked examples whose own score fell below
	// DefaultMatcherThreshold.
	Missed int
	// ConfusedWith lists the conditions that outscored it, most often first.
	ConfusedWith []Confusion
}

// Confusion is how many of a condition's examples another condition took.
type Confusion struct {
	Condition int
	Count     int
}

// ExampleCollision is a pair of near-identical examples of two conditions.
type ExampleCollision struct {
	A, B               int // conditions, A < B
	ExampleA, ExampleB int // indexes within each
	// Similarity is 1 for examples identical once normalised, otherwise
	// the cosine of their features (at least matcherCollision).
	Similarity float64
}

// matcherCheckSample bounds the examples CheckMatcher retrains without;
// beyond it, an even sample stands for the rest.
const matcherCheckSample = 4000

// matcherCollision is the feature cosine from which two examples count as
// the same phrasing.
const matcherCollision = 0.9

// CheckMatcher is the matcher's self-check, for linting a policy: it trains
// on conds as CompileMatcher does, then scores each example (up to a sample
// of 4,000) as if its condition had been trained without it, and finds
// examples that collide across conditions. A condition whose examples are
// confused or missed is one the matcher cannot learn from its examples.
func CheckMatcher(conds []MatcherCondition, opts MatcherOptions) (MatcherCheck, error) {
	opts = opts.withDefaults()
	tuning := *opts.tuning
	tuning.looSample = matcherCheckSample
	opts.tuning = &tuning
	m, set, models, err := compileMatcher(conds, opts)
	if err != nil {
		return MatcherCheck{}, err
	}
	check := MatcherCheck{Conditions: make([]ConditionCheck, len(conds))}
	confusions := make([]map[int]int, len(conds))
	m.leaveOneOutMargins(set, models, func(example int32, acc []float64) {
		own := int(set.owner[example])
		cc := &check.Conditions[own]
		cc.Checked++
		first, second := topTwo(acc)
		if m.cal.prob([calibrationFeatures]float64{acc[own], lead(acc, own, first, second)}) < DefaultMatcherThreshold {
			cc.Missed++
		}
		if first != own && acc[first] > acc[own] {
			cc.Confused++
			if confusions[own] == nil {
				confusions[own] = map[int]int{}
			}
			confusions[own][first]++
		}
	})
	for c, by := range confusions {
		for d, n := range by {
			check.Conditions[c].ConfusedWith = append(check.Conditions[c].ConfusedWith, Confusion{d, n})
		}
		slices.SortFunc(check.Conditions[c].ConfusedWith, func(a, b Confusion) int {
			if a.Count != b.Count {
				return cmp.Compare(b.Count, a.Count)
			}
			return cmp.Compare(a.Condition, b.Condition)
		})
	}
	check.Collisions = findCollisions(conds, set, m.exampleStart)
	return check, nil
}

// findCollisions pairs examples of different conditions that normalise to
// the same words, or whose features have a cosine of matcherCollision or
// more.
func findCollisions(conds []MatcherCondition, s *trainingSet, exampleStart []int) []ExampleCollision {
	cond := func(i int) int { return int(s.owner[i]) }
	pairs := map[[2]int]float64{}
	seen := map[string]int{}
	for i := range s.numExamples {
		text := conds[cond(i)].Examples[i-exampleStart[cond(i)]]
		key := normalisedText(matcherWords(text, s.tuning.negationScope))
		if j, ok := seen[key]; !ok {
			seen[key] = i
		} else if cond(j) != cond(i) {
			pairs[[2]int{j, i}] = 1
		}
	}
	for _, p := range similarExamples(s) {
		if _, identical := pairs[[2]int{p.a, p.b}]; !identical {
			pairs[[2]int{p.a, p.b}] = p.sim
		}
	}
	out := make([]ExampleCollision, 0, len(pairs))
	for p, sim := range pairs {
		a, b := p[0], p[1]
		if cond(a) > cond(b) {
			a, b = b, a
		}
		out = append(out, ExampleCollision{A: cond(a), B: cond(b), ExampleA: a - exampleStart[cond(a)],
			ExampleB: b - exampleStart[cond(b)], Similarity: min(sim, 1)})
	}
	slices.SortFunc(out, func(x, y ExampleCollision) int {
		return cmp.Or(cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B), cmp.Compare(x.ExampleA, y.ExampleA), cmp.Compare(x.ExampleB, y.ExampleB))
	})
	return out
}

// normalisedText is the words as the matcher reads them.
func normalisedText(words []matcherWord) string {
	var b strings.Builder
	for _, w := range words {
		if w.negated {
			b.WriteString("not ")
		}
		b.WriteString(w.stem)
		b.WriteByte(' ')
	}
	return b.String()
}

type similarPair struct {
	a, b int // examples, a < b, of different conditions
	sim  float64
}

// similarExamples finds pairs of examples of different conditions whose
// cosine reaches matcherCollision. Candidates share a word feature that
// fewer than matcherCommonFeature examples use, so this does not compare
// every pair.
func similarExamples(s *trainingSet) []similarPair {
	postings := map[int32][]int32{}
	for i := range s.numExamples {
		for _, e := range s.xs[i].e[:s.xs[i].nWords] {
			postings[e.id] = append(postings[e.id], int32(i))
		}
	}
	var out []similarPair
	shared := map[int32]bool{}
	for i := range s.numExamples {
		clear(shared)
		for _, e := range s.xs[i].e[:s.xs[i].nWords] {
			if list := postings[e.id]; len(list) <= matcherCommonFeature {
				for _, j := range list {
					if int(j) > i && s.owner[j] != s.owner[i] {
						shared[j] = true
					}
				}
			}
		}
		for j := range shared {
			if sim := exampleCosine(&s.xs[i], &s.xs[j]); sim >= matcherCollision {
				out = append(out, similarPair{i, int(j), sim})
			}
		}
	}
	return out
}

// exampleCosine is the cosine of two training vectors (each of two unit
// blocks, so the dot product over 2).
func exampleCosine(a, b *matcherVec) float64 {
	value := make(map[int32]float32, len(a.e))
	for _, e := range a.e {
		value[e.id] = e.v
	}
	var d float64
	for _, e := range b.e {
		d += float64(float64(value[e.id]) * float64(e.v))
	}
	return d / 2
}
