package domain

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// shopConditions is a small shop's conditions, as a policy would give them.
const (
	condHuman = iota
	condReturn
	condOrderStatus
	condHours
	condCancel
)

func shopConditions() []MatcherCondition {
	return []MatcherCondition{
		condHuman: {Examples: []string{
			"I want to talk to a human", "let me speak to a real person", "connect me with an agent please",
			"can I talk to someone", "I need a human", "get me a person on the phone",
			"is there a real person I can chat with", "transfer me to customer service",
		}},
		condReturn: {Examples: []string{
			"I want to return my jacket", "how do I send this back", "I'd like a refund for my order",
			"the shoes don't fit, I want to return them", "can I exchange this for a bigger size",
			"it was too tight", "start a return", "I changed my mind about the coat, can I give it back",
		}},
		condOrderStatus: {Examples: []string{
			"where is my order", "has my parcel shipped yet", "track my package", "when will my order arrive",
			"my delivery is late", "what's the status of order 12345", "it still hasn't come",
		}},
		condHours: {Examples: []string{
			"what are your opening hours", "when do you open", "are you open on sunday",
			"what time do you close today", "store hours please",
		}},
		condCancel: {Examples: []string{
			"cancel my order", "I don't want the order anymore, please cancel it", "stop my order before it ships",
			"can I cancel the purchase I made yesterday",
		}},
	}
}

func compileShop(t *testing.T, conds []MatcherCondition) *Matcher {
	t.Helper()
	m, err := CompileMatcher(conds, MatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scoreOf is condition c's score for the message among all conditions.
func scoreOf(m *Matcher, in MatchInput, c int) ConditionScore {
	for _, s := range m.Score(in, []int{0, 1, 2, 3, 4}) {
		if s.Condition == c {
			return s
		}
	}
	panic("condition not scored")
}

func TestMatcherPicksTheRightCondition(t *testing.T) {
	m := compileShop(t, shopConditions())
	for _, tc := range []struct {
		msg   string
		want  int
		clear bool // the right condition also clears the threshold
	}{
		{"Where's my parcel? It was shipped weeks ago", condOrderStatus, true},
		{"returning the boots, they're too small", condReturn, true},
		{"Can I speak with a person?", condHuman, true},
		{"what time do you open on saturdays", condHours, true},
		{"please cancel the order I placed", condCancel, true},
		// Typos and inflections the examples never had.
		{"I wnat to retrun my jacket", condReturn, false},
		{"were is my oder", condOrderStatus, false},
		{"cancelling my purchases", condCancel, false},
	} {
		got := m.Score(MatchInput{Text: tc.msg}, nil)
		if len(got) == 0 || got[0].Condition != tc.want {
			t.Errorf("%q: got %+v, want condition %d first", tc.msg, got, tc.want)
			continue
		}
		if tc.clear && got[0].Score < DefaultMatcherThreshold {
			t.Errorf("%q: right condition scores %.3f, below the threshold", tc.msg, got[0].Score)
		}
	}
}

func TestMatcherNegationLowersTheMatch(t *testing.T) {
	m := compileShop(t, shopConditions())
	plain := scoreOf(m, MatchInput{Text: "I want to talk to a human"}, condHuman)
	negated := scoreOf(m, MatchInput{Text: "I don't want to talk to a human"}, condHuman)
	t.Logf("human: plain %.3f (%v), negated %.3f (%v)", plain.Score, plain.Terms, negated.Score, negated.Terms)
	if plain.Score < DefaultMatcherThreshold {
		t.Errorf("plain request scores %.3f, below the threshold", plain.Score)
	}
	if negated.Score >= plain.Score-0.2 {
		t.Errorf("negated request scores %.3f, not well below the plain %.3f", negated.Score, plain.Score)
	}
}

// A negation covers the word pairs in its scope too: "don't connect me
// with an agent" shares every pair with "connect me with an agent please",
// and must not be read as asking for one.
func TestMatcherNegationCoversWordPairs(t *testing.T) {
	m := compileShop(t, shopConditions())
	for _, msg := range []string{"please don't connect me with an agent", "do not transfer me to customer service"} {
		got := scoreOf(m, MatchInput{Text: msg}, condHuman)
		t.Logf("human for %q: %.3f (%v)", msg, got.Score, got.Terms)
		if got.Score >= DefaultMatcherThreshold {
			t.Errorf("%q: human scores %.3f, at or above the threshold", msg, got.Score)
		}
	}
}

func TestMatcherNegativeExamplesKeepAConditionOff(t *testing.T) {
	conds := shopConditions()
	before := compileShop(t, conds)
	conds[condHuman].Negatives = []string{"I don't want to talk to a human", "I'm fine with the bot"}
	after := compileShop(t, conds)
	// Phrasings the negatives do not contain.
	for _, msg := range []string{"I do not need to speak to a person", "no need for an agent, the bot is fine"} {
		b, a := scoreOf(before, MatchInput{Text: msg}, condHuman), scoreOf(after, MatchInput{Text: msg}, condHuman)
		t.Logf("human for %q: %.3f without negatives, %.3f with", msg, b.Score, a.Score)
		if a.Score >= b.Score || a.Score >= DefaultMatcherThreshold {
			t.Errorf("%q: with negatives %.3f (before %.3f); want lower and below the threshold", msg, a.Score, b.Score)
		}
	}
	if still := scoreOf(after, MatchInput{Text: "let me talk to a real person"}, condHuman); still.Score < DefaultMatcherThreshold {
		t.Errorf("with negatives a real request scores %.3f, below the threshold", still.Score)
	}
}

func TestMatcherNothingApplies(t *testing.T) {
	m := compileShop(t, shopConditions())
	for _, msg := range []string{"what's the weather like in Paris", "tell me a joke about penguins", "asdfgh qwerty", ""} {
		for _, s := range m.Score(MatchInput{Text: msg}, []int{0, 1, 2, 3, 4}) {
			if s.Score >= DefaultMatcherThreshold {
				t.Errorf("%q: condition %d scores %.3f, at or above the threshold", msg, s.Condition, s.Score)
			}
		}
	}
}

func TestMatcherScoresAreProbabilities(t *testing.T) {
	m := compileShop(t, shopConditions())
	long := strings.Repeat("return ", 1000) + strings.Repeat("é", 3000)
	nan := make([]float64, m.NumExamples())
	for i := range nan {
		nan[i] = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 7, -3, 0.5}[i%6]
	}
	inputs := []MatchInput{
		{}, {Text: "🙂🙂🙂"}, {Text: long}, {Text: "   ...!!!"}, {Text: "yes", Context: long},
		{Text: "where is my order", Semantic: nan}, {Text: "", Semantic: make([]float64, m.NumExamples())},
		{Text: "where is my order", Semantic: []float64{1}},
	}
	for _, in := range inputs {
		for _, s := range m.Score(in, nil) {
			for name, v := range map[string]float64{"score": s.Score, "lexical": s.Lexical, "semantic": s.Semantic} {
				if math.IsNaN(v) || v < 0 || v > 1 {
					t.Errorf("%.20q: condition %d %s = %v", in.Text, s.Condition, name, v)
				}
			}
		}
		for _, s := range m.Score(in, []int{4, -1, 99, 0}) {
			if s.Condition != 4 && s.Condition != 0 {
				t.Errorf("scored condition %d, not among the valid candidates", s.Condition)
			}
		}
	}
}

func TestMatcherIsDeterministic(t *testing.T) {
	conds := shopConditions()
	a, err := CompileMatcher(conds, MatcherOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := CompileMatcher(conds, MatcherOptions{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"I want to return my jacket", "where is it", "cancel", "hello there", "talk to a person now"} {
		sa, sb := a.Score(MatchInput{Text: msg}, nil), b.Score(MatchInput{Text: msg}, nil)
		if len(sa) != len(sb) {
			t.Fatalf("%q: %d results, then %d", msg, len(sa), len(sb))
		}
		for i := range sa {
			if sa[i].Condition != sb[i].Condition || sa[i].Score != sb[i].Score || sa[i].Margin != sb[i].Margin {
				t.Errorf("%q: %+v, then %+v", msg, sa[i], sb[i])
			}
		}
	}
}

func TestMatcherEmbeddingsLetAParaphraseWithoutSharedWordsMatch(t *testing.T) {
	m := compileShop(t, shopConditions())
	msg := "Operator, pronto!"
	for _, cond := range shopConditions() {
		for _, ex := range cond.Examples {
			for _, w := range matcherWords(ex, 0) {
				for _, v := range matcherWords(msg, 0) {
					if w.stem == v.stem {
						t.Fatalf("%q shares %q with example %q", msg, v.stem, ex)
					}
				}
			}
		}
	}
	without := scoreOf(m, MatchInput{Text: msg}, condHuman)
	if without.Score >= DefaultMatcherThreshold {
		t.Fatalf("without embeddings the paraphrase already scores %.3f", without.Score)
	}
	// A fake embedder that places the message near "I want to talk to a
	// human" and far from everything else.
	sims := make([]float64, m.NumExamples())
	for i := range sims {
		sims[i] = 0.2
	}
	sims[m.exampleStart[condHuman]+0] = 0.88
	sims[m.exampleStart[condHuman]+3] = 0.7
	got := m.Score(MatchInput{Text: msg, Semantic: sims}, nil)
	if got[0].Condition != condHuman || got[0].Score < DefaultMatcherThreshold {
		t.Fatalf("with embeddings: %+v, want the human condition first and above the threshold", got[0])
	}
	if got[0].Example != 0 || got[0].Semantic <= got[0].Lexical {
		t.Errorf("explained by example %d (semantic %.3f, lexical %.3f); want example 0, the semantic signal ahead",
			got[0].Example, got[0].Semantic, got[0].Lexical)
	}
	for _, s := range got[1:] {
		if s.Score >= DefaultMatcherThreshold {
			t.Errorf("condition %d also scores %.3f", s.Condition, s.Score)
		}
	}
}

func TestMatcherSemanticCalibrationFitsTheEmbedder(t *testing.T) {
	conds := shopConditions()
	// A fake embedder: each condition has a direction; its examples lie
	// near it, each with a little noise of its own.
	const dim = 16
	direction := func(c int) []float32 {
		v := make([]float32, dim)
		v[c] = 1
		return v
	}
	for c := range conds {
		for j := range conds[c].Examples {
			e := direction(c)
			e[(c+j+1)%dim] += 0.5
			e[dim-1-j%4] += 0.3
			conds[c].Embeddings = append(conds[c].Embeddings, e)
		}
	}
	m := compileShop(t, conds)
	if m.semantic == DefaultSemanticCalibration {
		t.Fatal("the calibration was not fitted to the embeddings")
	}
	if m.semantic.Similarity <= 0 && m.semantic.Lead <= 0 {
		t.Fatalf("fitted calibration %+v does not rise with similarity", m.semantic)
	}
	sims := make([]float64, m.NumExamples())
	for i := range sims {
		sims[i] = 0.1
	}
	for i := m.exampleStart[condHours]; i < m.exampleStart[condHours+1]; i++ {
		sims[i] = 0.9
	}
	got := m.Score(MatchInput{Text: "when can I come by", Semantic: sims}, nil)
	if got[0].Condition != condHours || got[0].Score < DefaultMatcherThreshold {
		t.Errorf("got %+v, want the hours condition first and above the threshold (calibration %+v)", got[0], m.semantic)
	}
	conds[0].Embeddings = conds[0].Embeddings[:1]
	if _, err := CompileMatcher(conds, MatcherOptions{}); err == nil {
		t.Error("embeddings that do not match the examples were accepted")
	}
}

func TestMatcherShortRepliesReadTheContext(t *testing.T) {
	m := compileShop(t, shopConditions())
	asked := "Would you like to return the jacket you ordered?"
	bare := scoreOf(m, MatchInput{Text: "yes"}, condReturn)
	withContext := m.Score(MatchInput{Text: "yes", Context: asked}, nil)
	t.Logf("return for %q: %.3f alone, %+v with context", "yes", bare.Score, withContext[0])
	if bare.Score >= DefaultMatcherThreshold {
		t.Errorf("without context a bare yes scores %.3f for returns", bare.Score)
	}
	if withContext[0].Condition != condReturn || withContext[0].Score <= bare.Score {
		t.Errorf("with context: %+v; want returns first and above %.3f", withContext[0], bare.Score)
	}
	// A full message stands on its own whatever was asked.
	long := m.Score(MatchInput{Text: "where is my order, it has been two weeks already", Context: asked}, nil)
	if long[0].Condition != condOrderStatus {
		t.Errorf("a full message followed the context: %+v", long[0])
	}
}

func TestMatcherExplainsItsScores(t *testing.T) {
	m := compileShop(t, shopConditions())
	got := m.Score(MatchInput{Text: "how do I send these shoes back"}, nil)
	top := got[0]
	if top.Condition != condReturn {
		t.Fatalf("got %+v first", top)
	}
	if ex := shopConditions()[condReturn].Examples[top.Example]; ex != "how do I send this back" {
		t.Errorf("supporting example %q", ex)
	}
	if len(top.Terms) == 0 || !strings.Contains(strings.Join(top.Terms, " "), "back") {
		t.Errorf("terms %v do not name the words that matched", top.Terms)
	}
}

func TestCompileMatcherNeedsConditionsNotExamples(t *testing.T) {
	if _, err := CompileMatcher(nil, MatcherOptions{}); !errors.Is(err, ErrNoConditions) {
		t.Errorf("got %v", err)
	}
	// Conditions without examples are allowed and never match.
	m, err := CompileMatcher([]MatcherCondition{{}, {Examples: []string{"hello"}}}, MatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Score(MatchInput{Text: "hello"}, []int{0}) {
		if s.Score >= DefaultMatcherThreshold {
			t.Errorf("a condition without examples scores %.3f", s.Score)
		}
	}
	// Nor is a policy with no example at all an error.
	for _, conds := range [][]MatcherCondition{{{}}, {{Negatives: []string{"no"}}, {}}} {
		m, err := CompileMatcher(conds, MatcherOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range m.Score(MatchInput{Text: "hello", Context: "hi", Semantic: []float64{}}, nil) {
			if s.Score >= DefaultMatcherThreshold {
				t.Errorf("%+v: condition %d scores %.3f", conds, s.Condition, s.Score)
			}
		}
	}
}

func TestExplainingMoreResultsLaterGivesWhatScoringEachAloneGives(t *testing.T) {
	m := compileShop(t, shopConditions())
	for _, text := range []string{"I want to return my order, where is it, can I cancel", "hours", "talk to a person about my parcel"} {
		in := MatchInput{Text: text}
		all := []int{condHuman, condReturn, condOrderStatus, condHours, condCancel}
		scores, read := m.score(in, all)
		for k := range scores {
			later := scores[k]
			later.Example, later.Terms = -1, nil
			one := []ConditionScore{later}
			m.explainMore(&read, one)
			alone := m.Score(in, []int{later.Condition})[0]
			if one[0].Example != alone.Example || strings.Join(one[0].Terms, " ") != strings.Join(alone.Terms, " ") {
				t.Errorf("%q, condition %d: explained later %d %v, scored alone %d %v",
					text, later.Condition, one[0].Example, one[0].Terms, alone.Example, alone.Terms)
			}
		}
	}
}
