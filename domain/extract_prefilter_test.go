package domain

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// prefilterPatterns are pattern variables' patterns of many shapes: case
// folding, classes, alternations with and without a set, optional and
// repeated parts, anchors and characters outside ASCII.
var prefilterPatterns = []string{
	`\bac[\s-]*(\d+)\b|\b(\d{6})\b`,
	`\d{4}`,
	`[a-f0-9]{8}`,
	`order\s*#?\s*(\d+)`,
	`k\d`,
	`s+`,
	`(?:x|y)z?`,
	`a|b*`,
	`colou?r`,
	`^\d+$`,
	`\w+@\w+`,
	`[^0-9]+`,
	`.`,
	`é\d`,
	`[A-Z]{2}-\d{3}`,
	`(ab)+|(cd){2,}`,
	`z{0,3}q`,
	`\bref:\s*([a-z]+)`,
	`x*`,
	`(?-i:AB)c`,
	`[[:upper:]]\d`,
	`\pL\d`,
}

// prefilterMessage is a random message over bytes the patterns care
// about, case variants that fold to ASCII (the Kelvin sign, the long s),
// other letters outside ASCII and invalid UTF-8.
func prefilterMessage(r *rand.Rand) string {
	pieces := []string{"a", "A", "c", "C", "k", "K", "\u212a", "s", "S", "\u017f", "x", "y", "z", "q",
		"0", "1", "9", "-", " ", "#", "@", ":", "é", "É", "\xff", "\xc3", "order ", "ref: ", "ac-", "AB", "ab", "cd"}
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// TestPatternNeedsNeverSkipsAMatch checks the prefilter against the
// regexp: a message it skips has no non-empty match, and the candidates
// an extractor reads are those read without the prefilter.
func TestPatternNeedsNeverSkipsAMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	skipped := 0
	for _, p := range prefilterPatterns {
		x, err := NewExtractor(Variable{Name: "v", Type: VarPattern, Pattern: p})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		reference := *x
		reference.needs = nil
		for range 4000 {
			msg := prefilterMessage(r)
			if !x.needs.admits(msg) {
				skipped++
				for _, m := range x.pattern.FindAllStringIndex(msg, -1) {
					if m[0] != m[1] {
						t.Fatalf("pattern %q: message %q skipped but matches at %v", p, msg, m)
					}
				}
			}
			if got, want := x.patternCandidates(msg), reference.patternCandidates(msg); !reflect.DeepEqual(got, want) {
				t.Fatalf("pattern %q, message %q: candidates %v, want %v", p, msg, got, want)
			}
		}
	}
	if skipped == 0 {
		t.Fatal("no message was skipped: the prefilter went untested")
	}
}

// TestPatternNeedsOfTheDemoPattern pins what the demo's order number
// needs, a digit, so its messages without one skip the regexp; patterns
// that can match without a set byte (or with the Kelvin sign for k) need
// none.
func TestPatternNeedsOfTheDemoPattern(t *testing.T) {
	got := patternNeeds(`(?i)\bac[\s-]*(\d+)\b|\b(\d{6})\b`)
	var digits byteSet
	digits.addRange('0', '9')
	if !slices.Contains(got, digits) {
		t.Fatalf("needs %v, want the digits among them", got)
	}
	if got.admits("I want to return my order") || !got.admits("my order number is 123456") {
		t.Fatalf("needs %v: want a message without a digit skipped, one with a number read", got)
	}
	for _, p := range []string{`(?i)a|b*`, `(?i)x*`, `(?i)[^0-9]+`, `(?i).`, `(?i)k\d?`} {
		if n := patternNeeds(p); len(n) > 0 {
			t.Errorf("%s: needs %v, want none", p, n)
		}
	}
}
