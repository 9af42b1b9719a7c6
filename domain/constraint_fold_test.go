package domain

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIndexNormalizedAgreesWithTheNormalisedText compares indexNormalized,
// which reads an ASCII text as it is, with indexInNormalized, which
// searches NormalizeText(text), on generated texts (capitals, runs of every
// kind of ASCII white space, punctuation, digits, and now and then a rune
// past ASCII), phrases normalised from pieces of them or made up, and
// every start.
func TestIndexNormalizedAgreesWithTheNormalisedText(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	pieces := []string{"free", "Free", "FREE", "re", "fund", "Refund", "refunds", "a", "A", "e", "9", "09",
		" ", "  ", "\t", "\n", "\r\n", "\v", "\f", ".", ",", "-", "'", "_", "!", "<b>", "x2"}
	wide := []string{"é", "ſ", "K", "İ", "\u00a0", "\u0085", "ÉCOLE"}
	phrases := []string{"free", "re", "refund", "free refund", "e", "9", ".", "a free", "refunds!", "x2 free",
		"free  refund", " free", "free ", "Free", "free\trefund", "école", "ſ", "-re"}
	hits, checked := 0, 0
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(14) {
			if rng.IntN(40) == 0 {
				b.WriteString(wide[rng.IntN(len(wide))])
				continue
			}
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := b.String()
		phrase := phrases[rng.IntN(len(phrases))]
		if rng.IntN(2) == 0 && len(text) > 0 {
			i := rng.IntN(len(text))
			j := i + rng.IntN(len(text)-i+1)
			phrase = NormalizeText(text[i:j])
		}
		if phrase == "" {
			continue // answered -1 before either search
		}
		for from := 0; from <= len(text); from++ {
			got := indexNormalized(NewCheckedText(text), phrase, from)
			want := indexInNormalized(NewCheckedText(text), phrase, from)
			if got != want {
				t.Fatalf("text %q phrase %q from %d: %d, the normalised text's %d", text, phrase, from, got, want)
			}
			checked++
			if got >= 0 {
				hits++
			}
		}
	}
	if hits < checked/10 {
		t.Fatalf("only %d of %d searches found the phrase: the inputs test too little", hits, checked)
	}
}

// TestPlainPhrase: the phrases NormalizeText writes from ASCII are plain;
// white space it would not write, capitals and runes past ASCII are not.
func TestPlainPhrase(t *testing.T) {
	for _, p := range []string{"free", "free refund", "a", "9.99 off!", NormalizeText("  Guaranteed\n\tRefund ")} {
		if !plainPhrase(p) {
			t.Errorf("%q is plain", p)
		}
	}
	for _, p := range []string{" free", "free ", "free  refund", "Free", "free\trefund", "école"} {
		if plainPhrase(p) {
			t.Errorf("%q is not plain", p)
		}
	}
}
