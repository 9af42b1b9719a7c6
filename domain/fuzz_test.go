package domain

import (
	"strings"
	"testing"
	"time"
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

// fuzzVariables is one variable of every type, the demo's among them.
var fuzzVariables = []Variable{
	{Name: "order_id", Type: VarPattern, Pattern: `\bac[\s-]*(\d+)\b|\b(\d{6})\b`, Normalize: "AC-$1$2", Valid: `AC-\d{6}`},
	{Name: "reason", Type: VarEnum, Values: []EnumValue{{Value: "wrong_size", Synonyms: []string{"too tight", "didn't fit"}},
		{Value: "damaged", Synonyms: []string{"broken zipper", "broken"}}}},
	{Name: "n", Type: VarNumber, Max: func() *float64 { m := 100.0; return &m }()},
	{Name: "ok", Type: VarBoolean},
	{Name: "day", Type: VarDate},
	{Name: "refund", Type: VarAmount, Currency: "EUR"},
	{Name: "price", Type: VarAmount},
	{Name: "email", Type: VarEmail},
	{Name: "phone", Type: VarPhone},
	{Name: "note", Type: VarText},
}

// Reading any message never panics, and a value read is in its stored
// form: checked again, it comes back unchanged.
func FuzzExtractors(f *testing.F) {
	for _, s := range []string{"it's 123456, too tight", "AC-12345 and ac 654321", "€1.250,50 on 3 December",
		"yes, call +44 20 7946 0958 or ana@Example.com", "next friday? 12/03", "not broken, 2 of them", "\xff\x00{}"} {
		f.Add(s)
	}
	now := time.Date(2025, time.January, 15, 9, 0, 0, 0, time.UTC)
	set, err := CompileVariables(fuzzVariables)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		for _, v := range fuzzVariables {
			x := set.Get(v.Name)
			found, ok, err := x.Extract(msg, now)
			if !ok || err != nil {
				continue
			}
			again, err := x.Check(found.Value, now)
			if err != nil {
				t.Fatalf("%s: %q read as %#v, which Check refuses: %v", v.Name, msg, found.Value, err)
			}
			if valueKey(again) != valueKey(found.Value) {
				t.Fatalf("%s: %q read as %#v, checked again as %#v", v.Name, msg, found.Value, again)
			}
		}
		set.Extract([]string{"order_id", "reason", "n", "day", "refund", "email", "phone"}, msg, now)
	})
}
