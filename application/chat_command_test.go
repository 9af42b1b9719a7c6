package application

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// channelPattern is the channel name's definition, which isChannelName
// checks without a regular expression.
var channelPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)

// Every string of up to two bytes, and some longer ones, is a channel name
// exactly when the pattern says so.
func TestChannelNameAgreesWithItsPattern(t *testing.T) {
	cases := []string{"", "web", "web-chat.v2_eu", "Web", "9web", "web chat", "web\n", "wéb", "a$", "_a", "a-", "a.b.c"}
	for a := range 256 {
		cases = append(cases, string([]byte{byte(a)}))
		for b := range 256 {
			cases = append(cases, string([]byte{byte(a), byte(b)}))
		}
	}
	for _, s := range cases {
		if got, want := isChannelName(s), channelPattern.MatchString(s); got != want {
			t.Fatalf("isChannelName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}

// textProblemByRules is textProblem as its rules read, one check after the
// other, each over the whole text.
func textProblemByRules(s string, maxRunes int, multiline bool) string {
	switch {
	case s == "":
		return "is required"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case utf8.RuneCountInString(s) > maxRunes:
		return fmt.Sprintf("must be 1..%d characters", maxRunes)
	case strings.TrimSpace(s) == "":
		return "must not be blank"
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return "must not contain control characters"
		}
	}
	return ""
}

// textProblem, which reads the text once, says what each check in turn
// says: the first that fails, on texts that fail several.
func TestTextProblemAnswersAsItsRulesInOrder(t *testing.T) {
	pieces := []string{"", "a", " ", "\t", "\n", "\r", "\v", "\x00", "\x7f", "é", "\u0085", "\u00a0", "\u2028", "\u3000",
		"\x9f", "\xff", "\xc3", "日本", "\U0001F600"}
	for _, a := range pieces {
		for _, b := range pieces {
			for _, c := range pieces {
				s := a + b + c
				for _, max := range []int{1, 2, 3, 10} {
					for _, multiline := range []bool{false, true} {
						if got, want := textProblem(s, max, multiline), textProblemByRules(s, max, multiline); got != want {
							t.Fatalf("textProblem(%q, %d, %v) = %q, want %q", s, max, multiline, got, want)
						}
					}
				}
			}
		}
	}
}

// Long texts, read eight bytes at a time where they are printable ASCII:
// textProblem still says what its rules say, on many generated texts that
// mix printable runs with every kind of byte at every offset.
func TestTextProblemReadsLongTextsAsItsRules(t *testing.T) {
	pieces := []string{"a", " ", "~", "\x7f", "\x1f", "\t", "\n", "\r", "\v", "\x00", "é", "\u00a0", "\u2028", "\xff", "\xc3",
		"\x80", "日本", "\U0001F600", "hello world", "        ", "AC-123456", "ret-12"}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		for _, max := range []int{5, 20, 10000} {
			for _, multiline := range []bool{false, true} {
				if got, want := textProblem(s, max, multiline), textProblemByRules(s, max, multiline); got != want {
					t.Fatalf("textProblem(%q, %d, %v) = %q, want %q", s, max, multiline, got, want)
				}
			}
		}
	}
}

// printableASCII8 tells printable ASCII words from the others, whatever
// byte of the eight is not.
func TestPrintableASCII8(t *testing.T) {
	for c := range 256 {
		for at := range 8 {
			word := []byte("abcdefgh")
			word[at] = byte(c)
			_, got := printableASCII8(string(word))
			if want := c >= 0x20 && c <= 0x7e; got != want {
				t.Fatalf("byte %#x at %d: printable %v, want %v", c, at, got, want)
			}
		}
	}
}
