//go:build !race

// The matcher's equivalence tests: each compares a fast path with its
// plain reference over thousands of messages, sequential arithmetic the
// race detector slows tenfold (about 150 s of a make test's CPU) and has
// nothing to find in. They build without it, and make test runs this
// package once more without -race for them (scripts/test.sh); the code
// they check runs under -race in the package's other tests.

package domain

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestMarginsAreThePlainSumsToTheBit checks every margins loop (a step's
// few conditions, a small policy's, a large one's) against the plain sum,
// bit for bit, for messages alone and read with a context: the golden
// digests cover the larger matchers' scores but no matcher of a step's
// size.
func TestMarginsAreThePlainSumsToTheBit(t *testing.T) {
	train, test := readBanking77(t, "train.csv"), readBanking77(t, "test.csv")
	b77, _ := banking77Conditions(train, 40)
	cases := []struct {
		name  string
		conds []MatcherCondition
	}{
		{"two", b77[:2]},
		{"four", b77[4:8]},
		{"banking77", b77},
		{"synthetic300", syntheticConditions(t, 300, 6)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := CompileMatcher(tc.conds, MatcherOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n := m.NumConditions()
			// As scoring's scratch has it, with just the room masking
			// needs, and without it, which leaves the general loop.
			accs := [][]float64{newMargins(n), make([]float64, n, roomForMargins(n)), make([]float64, n)}
			// The same postings as a matcher of more conditions than
			// two bytes name holds them, which no test compiles.
			wide := &Matcher{bias: m.bias, postStart: m.postStart, postW: m.postW, postCond: make([]int32, len(m.postW))}
			for k := range wide.postCond {
				wide.postCond[k] = m.postedCond(int32(k))
			}
			for i, r := range test {
				if i%4 != 0 {
					continue
				}
				context := ""
				if i%8 == 0 {
					context = test[(i*31+5)%len(test)].text
				}
				_, q := m.message(readMessageText(r.text, m.tuning.negationScope), context, nil, nil)
				want := referenceMargins(m, &q.matcherVec)
				for _, mm := range []*Matcher{m, wide} {
					for _, acc := range accs {
						mm.margins(&q.matcherVec, acc)
						for c := range want {
							if math.Float64bits(acc[c]) != math.Float64bits(want[c]) {
								t.Fatalf("%q (room for %d, wide %t): condition %d's margin is %v, the plain sum %v",
									r.text, cap(acc), mm == wide, c, acc[c], want[c])
							}
						}
					}
				}
			}
		})
	}
}

// Ranking every condition by its log-odds and shortlisting by margin must
// choose the same conditions, whatever the number of results and the
// floor: a full heap (few results, a low floor) is where the shortlist
// skips the most, and where a tie at its worst member would show.
func TestShortlistByMarginChoosesWhatRankingEveryConditionChooses(t *testing.T) {
	test := readBanking77(t, "test.csv")
	conds := syntheticConditions(t, 300, 6)
	for _, opts := range []MatcherOptions{{}, {MaxResults: 1}, {MaxResults: 3, ReportFloor: 1e-9}, {MaxResults: 40, ReportFloor: 0.3}} {
		m, err := CompileMatcher(conds, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !m.linearLexical() {
			t.Fatalf("the calibration %+v should move with the margin", m.cal)
		}
		acc, z := make([]float64, m.NumConditions()), make([]float64, m.NumConditions())
		for i, r := range test {
			if i%5 != 0 {
				continue
			}
			_, q := m.message(readMessageText(r.text, m.tuning.negationScope), "", nil, nil)
			m.margins(&q.matcherVec, acc)
			first, second := topTwo(acc)
			for c := range z {
				z[c] = m.cal.logit([calibrationFeatures]float64{acc[c], lead(acc, c, first, second)})
			}
			want := bestConditions(nil, z, m.opts.MaxResults, logit(m.opts.ReportFloor))
			got := m.bestLexical(nil, acc, first, second)
			byCond := func(a, b scored) int { return a.c - b.c }
			slices.SortFunc(want, byCond)
			slices.SortFunc(got, byCond)
			if !slices.Equal(got, want) {
				t.Fatalf("%+v, %q: shortlisted %v, ranked %v", opts, r.text, got, want)
			}
		}
	}
}

// messageVector must weigh a message exactly as the reference does, to
// the bit, with the same words behind each entry: Banking77's messages,
// and random mixes of their words and of made-up ones (repeats, numbers,
// negations, words no training text had), in buffers reused from one
// message to the next as a turn's are.
func TestMessageVectorIsTheReferenceVector(t *testing.T) {
	b77, _ := banking77Conditions(readBanking77(t, "train.csv"), 40)
	m, err := CompileMatcher(rulesPolicyConditions(b77, 100), MatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	test := readBanking77(t, "test.csv")
	texts := make([]string, 0, 1600)
	for _, row := range test[:800] {
		texts = append(texts, row.text)
	}
	var vocabulary []string
	for _, row := range test {
		vocabulary = append(vocabulary, strings.Fields(row.text)...)
	}
	extra := []string{"not", "don't", "123", "4567", "zzyzx", "qqq", "card", "card", "£", "café", "no", "!"}
	r := rand.New(rand.NewPCG(5, 6))
	for range 800 {
		ws := make([]string, 1+r.IntN(30))
		for i := range ws {
			if r.IntN(4) == 0 {
				ws[i] = extra[r.IntN(len(extra))]
			} else {
				ws[i] = vocabulary[r.IntN(len(vocabulary))]
			}
		}
		texts = append(texts, strings.Join(ws, " "))
	}
	bufs := new(messageBuffers)
	var vb vecBuffer
	for _, text := range texts {
		want := referenceMessageVector(m.vocab, text, m.tuning.negationScope)
		got := m.vocab.messageVector(readMessageTextIn(text, m.tuning.negationScope, bufs), &vb)
		requireSameSum(t, got, want, text)
		for k, s := range want.spans {
			if !slices.Equal(got.origins[got.spans[k].lo:got.spans[k].hi], want.origins[s.lo:s.hi]) {
				t.Fatalf("%q: entry %d's words are %v, want %v", text, k,
					got.origins[got.spans[k].lo:got.spans[k].hi], want.origins[s.lo:s.hi])
			}
		}
	}
}

// TestAddContextIsTheReferenceSum checks addContext against the plain sum,
// bit for bit, on generated vectors (few ids shared, many, none, empty
// blocks) and on real replies read with a real context, its buffer reused
// from one call to the next as a step's scoring reuses it.
func TestAddContextIsTheReferenceSum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	buf := &contextBuffer{}
	for trial := range 3000 {
		ids := 1 + r.IntN(400)
		msg := randomVec(r, r.IntN(12), r.IntN(80), ids, true)
		ctx := randomVec(r, r.IntN(60), r.IntN(500), ids, false).matcherVec
		weight := r.Float64() * 1.2
		want := referenceAddContext(msg, ctx, weight)
		requireSameSum(t, addContext(msg, ctx, weight, buf), want, "generated")
		if trial%10 == 0 {
			requireSameSum(t, addContext(msg, ctx, weight, nil), want, "generated, without a buffer")
		}
	}
	b77, _ := banking77Conditions(readBanking77(t, "train.csv"), 40)
	m, err := CompileMatcher(b77, MatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	test := readBanking77(t, "test.csv")
	for i, row := range test[:600] {
		q := m.vocab.messageVector(readMessageText(row.text, m.tuning.negationScope), nil)
		ctx := m.vocab.vector(extractFeatures(matcherWords(test[(i*31+7)%len(test)].text+" "+row.text, 3)), nil)
		want := referenceAddContext(q, ctx, 0.6)
		requireSameSum(t, addContext(q, ctx, 0.6, buf), want, row.text)
	}
}
