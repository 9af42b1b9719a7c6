package domain

import (
	"strings"
	"testing"
)

// Parsing and rendering any template text never panics; a parsed
// template rendered with every variable set leaves no placeholder behind.
func FuzzTemplate(f *testing.F) {
	f.Add("Hello {name}, your order {order.id} ships {{soon}}", "x")
	f.Add("{", "")
	f.Add("}}{{}", "v")
	f.Add("{a}{b}{c}", "{a}")
	f.Fuzz(func(t *testing.T, text, value string) {
		tpl, err := ParseTemplate(text)
		if err != nil {
			return
		}
		vars := map[string]any{}
		for _, v := range tpl.Variables() {
			vars[v] = value
		}
		out, missing := tpl.Render(vars)
		if len(missing) != 0 {
			t.Fatalf("missing %v although every variable was set", missing)
		}
		if len(tpl.Variables()) == 0 && !strings.Contains(text, "{{") && !strings.Contains(text, "}}") && out != text {
			t.Fatalf("plain text %q rendered as %q", text, out)
		}
	})
}

// The streaming check (FirstForbidden) and the whole-text check
// (CheckLexical) agree on every text: streaming can never let through what
// the final check would refuse.
func FuzzForbiddenPhrase(f *testing.F) {
	f.Add("guaranteed refund", "We offer a Guaranteed\n  REFUND today")
	f.Add("ß", "STRASSE ß")
	f.Add("a b", "a\u00a0b")
	f.Fuzz(func(t *testing.T, phrase, text string) {
		if strings.TrimSpace(phrase) == "" {
			return
		}
		c, err := PrepareConstraint("r", Constraint{Kind: ConstraintForbidPhrase, Value: phrase})
		if err != nil {
			t.Fatal(err)
		}
		at := c.FirstForbidden(text)
		violates := c.CheckLexical(text) != ""
		if (at >= 0) != violates {
			t.Fatalf("FirstForbidden=%d but CheckLexical violation=%v for phrase %q in %q", at, violates, phrase, text)
		}
		if at >= 0 && c.CheckLexical(text[:at]) != "" {
			t.Fatalf("text before the first violation (%q) already violates", text[:at])
		}
	})
}
