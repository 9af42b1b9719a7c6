package domain

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// referenceWords is matcherWords as it was written before it read a text
// in two passes (one string per word): the words must stay the same, to
// the byte, for every text.
func referenceWords(text string, scope int) []matcherWord {
	s := referenceSplitter{scope: scope}
	for _, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			s.word = utf8.AppendRune(s.word, unicode.ToLower(r))
		case r == '\'' || r == '’' || r == '‘' || r == '`':
			if len(s.word) > 0 {
				s.word = append(s.word, '\'')
			}
		case unicode.IsSymbol(r):
			s.flush()
			s.emit(string(r))
		default:
			s.flush()
			if strings.ContainsRune(".,;:!?()", r) {
				s.split.left = 0
			}
		}
	}
	s.flush()
	return s.split.out
}

type referenceSplitter struct {
	split wordSplitter
	word  []byte
	scope int
}

func (s *referenceSplitter) flush() {
	if len(s.word) == 0 {
		return
	}
	w := string(s.word)
	s.word = s.word[:0]
	if exp, ok := matcherContractions[w]; ok || strings.IndexByte(w, '\'') >= 0 {
		if !ok {
			exp = expandContraction(w)
		}
		for _, w := range exp {
			s.emit(w)
		}
		return
	}
	s.emit(w)
}

func (s *referenceSplitter) emit(w string) {
	s.split.scope = s.scope
	s.split.emit(w)
}

var wordTexts = []string{
	"",
	"hello there",
	"I want to return my order",
	"where is your nearest store?",
	"my order number is 12345",
	"I don't want to talk to a bot, but I can't wait",
	"I DON’T want it; I won‘t pay $45.00 for it (no way) 😀 ok",
	"cancelled cancelling carded cards cities misses buses shipped",
	"it's 'quoted' words'' ''and dont cant wont isnt shouldnt cannot",
	"Ⓐ circled Ⓑ letters and Ⅻ numerals İstanbul ǅemal Straße ΣΑΣ",
	"bad \xff\xfe bytes \xc3 here",
	"no, never: nothing nobody none neither nor without — but yes",
	"a1b2 123-456 +33 6 12 34 56 78 foo@example.com €5 £3 ¥7",
	strings.Repeat("a very long message with many words that goes on and on, ", 12),
	strings.Repeat("x", 300) + " " + strings.Repeat("ÿ", 200),
}

func TestMatcherWordsAreTheReferenceWords(t *testing.T) {
	for _, text := range wordTexts {
		for _, scope := range []int{0, 1, 3} {
			want := referenceWords(text, scope)
			requireSameWords(t, want, matcherWords(text, scope), "%q scope %d", text, scope)
			reused := appendMatcherWords(make([]matcherWord, 0, 2), text, scope)
			requireSameWords(t, want, reused, "%q scope %d, appended", text, scope)
		}
	}
}

func FuzzMatcherWords(f *testing.F) {
	for _, text := range wordTexts {
		f.Add(text, 3)
	}
	f.Fuzz(func(t *testing.T, text string, scope int) {
		scope = min(max(scope, 0), 8)
		requireSameWords(t, referenceWords(text, scope), matcherWords(text, scope), "%q", text)
	})
}

// requireSameWords compares word lists, an empty one equal to none.
func requireSameWords(t *testing.T, want, got []matcherWord, msg string, args ...any) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	require.Equal(t, want, got, append([]any{msg}, args...)...)
}

// A context the matcher keeps (read lately) scores a message exactly as
// reading it afresh does, concurrently too, and the kept contexts stay
// bounded however many pass.
func TestKeptContextsScoreAsReadAfresh(t *testing.T) {
	conds := syntheticConditions(t, 40, 4)
	kept, err := CompileMatcher(conds, MatcherOptions{})
	require.NoError(t, err)
	contexts := make([]string, 3*maxContexts)
	for i := range contexts {
		contexts[i] = conds[i%len(conds)].Examples[0] + " — what is your order number?"
	}
	contexts = append(contexts, strings.Repeat("tell me more about it, ", 60)) // too long to keep
	ref, err := CompileMatcher(conds, MatcherOptions{})
	require.NoError(t, err)
	fresh := func(in MatchInput) []ConditionScore {
		ref.contexts.Clear() // read afresh
		return ref.Score(in, nil)
	}
	for round := range 2 {
		for _, ctx := range contexts {
			in := MatchInput{Text: "yes", Context: ctx}
			want := fresh(in)
			done := make(chan []ConditionScore, 4)
			for range 4 {
				go func() { done <- kept.Score(in, nil) }()
			}
			for range 4 {
				require.Equal(t, want, <-done, "round %d, context %q", round, ctx)
			}
			require.LessOrEqual(t, int(kept.nContexts.Load()), maxContexts)
		}
	}
}

// The checks made before looking a word up in matcherContractions and
// matcherNegations must pass every word these hold: a word they turned
// away would be read as a plain word.
func TestWordChecksPassEveryContractionAndNegation(t *testing.T) {
	for w := range matcherContractions {
		if !mayBeContraction(w) {
			t.Errorf("mayBeContraction(%q) is false; it is a contraction", w)
		}
	}
	for w := range matcherNegations {
		if !mayNegate(w) {
			t.Errorf("mayNegate(%q) is false; it is a negation", w)
		}
	}
}

// referenceFeatures is featuresIn as it was before it read ASCII words'
// grams from their bytes: every word's runes, digits folded, padded, then
// appendCharGrams; origins appended one at a time.
func referenceFeatures(words []matcherWord) matcherFeatures {
	var f matcherFeatures
	var origins []int32
	for i, w := range words {
		before := len(f.words)
		f.appendWordFeatures(words, i)
		for range len(f.words) - before {
			origins = append(origins, int32(i))
		}
		runes := []rune{' '}
		for _, r := range w.stem {
			if unicode.IsDigit(r) {
				r = '0'
			}
			runes = append(runes, r)
		}
		runes = append(runes, ' ')
		f.chars = appendCharGrams(f.chars, runes)
	}
	// Word features' origins, then each gram's word.
	for i, w := range words {
		n := len(appendCharGrams(nil, append(append([]rune{' '}, []rune(w.stem)...), ' ')))
		for range n {
			origins = append(origins, int32(i))
		}
	}
	f.origin = origins
	return f
}

// Every message's features and their origins are the reference's, to the
// hash, whatever its words: ASCII ones of every length around the longest
// read from bytes, digits, and words that are not ASCII.
func TestFeaturesAreTheReferenceFeatures(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyz0123456789' éü€٣")
	texts := slices.Clone(wordTexts)
	for _, r := range readBanking77(t, "test.csv")[:300] {
		texts = append(texts, r.text)
	}
	for range 300 {
		var b strings.Builder
		for range 1 + rng.IntN(8) {
			n := rng.IntN(maxASCIIGramWord + 4)
			for range n {
				if rng.IntN(10) == 0 {
					b.WriteRune(alphabet[rng.IntN(len(alphabet))])
				} else {
					b.WriteByte(byte('a' + rng.IntN(26)))
				}
			}
			b.WriteByte(' ')
		}
		texts = append(texts, b.String())
	}
	var hashes []uint64
	var origins []int32
	for _, text := range texts {
		words := matcherWords(text, 3)
		want := referenceFeatures(words)
		got := featuresIn(&hashes, &origins, words)
		require.Equal(t, append([]uint64{}, want.words...), append([]uint64{}, got.words...), "%q: words", text)
		require.Equal(t, append([]uint64{}, want.chars...), append([]uint64{}, got.chars...), "%q: grams", text)
		require.Equal(t, append([]int32{}, want.origin...), append([]int32{}, got.origin...), "%q: origins", text)
	}
}
