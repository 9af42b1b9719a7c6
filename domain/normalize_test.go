package domain

import (
	"strings"
	"testing"
	"unicode"
)

// normalizeByRunes is NormalizeText as defined: every rune folded by
// unicode.ToLower, every run of unicode.IsSpace one space, none at the ends.
func normalizeByRunes(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// NormalizeText, which folds ASCII byte by byte, folds every text as its
// definition does: ASCII, other scripts, Unicode spaces and invalid UTF-8.
func TestNormalizeTextFoldsAsDefined(t *testing.T) {
	pieces := []string{"", "a", "Z", "@", "[", " ", "\t", "\n", "\v", "\f", "\r", "\x1c", "\x7f", "É", "ß", "İ", "Σ",
		"\u0085", "\u00a0", "\u2028", "\u3000", "\xff", "\xc3", "日本", "\U0001F600", "Guaranteed  REFUND"}
	for c := range 256 {
		b := string([]byte{byte(c)})
		for _, s := range []string{b, "x" + b + "Y  " + b + b, " " + b + "\u00e9" + b + " "} {
			if got, want := NormalizeText(s), normalizeByRunes(s); got != want {
				t.Fatalf("NormalizeText(%q) = %q, want %q", s, got, want)
			}
		}
	}
	for _, a := range pieces {
		for _, b := range pieces {
			for _, c := range pieces {
				s := a + b + c
				if got, want := NormalizeText(s), normalizeByRunes(s); got != want {
					t.Fatalf("NormalizeText(%q) = %q, want %q", s, got, want)
				}
			}
		}
	}
}
