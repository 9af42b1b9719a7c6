package domain

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// docs/agent-bundle.md names the order in which a message is read for
// several variables; extractOrder is that order.
func TestReadingOrderIsTheDocumentedOne(t *testing.T) {
	doc, err := os.ReadFile("../docs/agent-bundle.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`the most specific types read first\s+\(([a-z, ]+)\)`).FindSubmatch(doc)
	require.NotNil(t, m, "agent-bundle.md no longer gives the reading order")
	var got []string
	for _, typ := range extractOrder {
		got = append(got, string(typ))
	}
	require.Equal(t, strings.Join(got, ", "), string(m[1]))
}

// Each type takes, before the one after it in the reading order, a text
// both would read: asked the other way round, the later type still gets
// nothing from it. Phone and date read no text in common (the phone
// reader leaves dates alone), nor do boolean and number, nor does text
// (it takes a message only when asked alone), so their places are pinned
// by the list above only.
func TestEarlierTypesTakeTheTextFirst(t *testing.T) {
	vars := map[VariableType]Variable{
		VarPattern: {Name: "ref", Type: VarPattern, Pattern: `\b[a-z0-9.]+@[a-z]+\.org\b`},
		VarEmail:   {Name: "email", Type: VarEmail},
		VarPhone:   {Name: "phone", Type: VarPhone},
		VarDate:    {Name: "day", Type: VarDate},
		VarAmount:  {Name: "refund", Type: VarAmount},
		VarEnum:    {Name: "size", Type: VarEnum, Values: []EnumValue{{Value: "two", Synonyms: []string{"2 pack", "yes please"}}}},
		VarBoolean: {Name: "ok", Type: VarBoolean},
		VarNumber:  {Name: "n", Type: VarNumber},
	}
	tests := []struct {
		first, then VariableType
		msg         string
	}{
		{VarPattern, VarEmail, "ana.1234567@x.org"},
		{VarEmail, VarPhone, "1234567@example.com"},
		{VarDate, VarAmount, "3 December"},
		{VarAmount, VarEnum, "the 2 pack"},
		{VarEnum, VarBoolean, "yes please"},
		{VarEnum, VarNumber, "two"},
	}
	now := time.Date(2025, time.January, 15, 10, 30, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(string(tc.first)+" before "+string(tc.then), func(t *testing.T) {
			first, then := vars[tc.first], vars[tc.then]
			require.Less(t, slices.Index(extractOrder, tc.first), slices.Index(extractOrder, tc.then), "the pair is in the reading order")
			set, err := CompileVariables([]Variable{first, then})
			require.NoError(t, err)
			for _, name := range []string{first.Name, then.Name} {
				require.Len(t, set.Extract([]string{name}, tc.msg, now), 1, "%s alone reads %q", name, tc.msg)
			}
			got := set.Extract([]string{then.Name, first.Name}, tc.msg, now)
			require.Len(t, got, 1, "one variable takes %q: %+v", tc.msg, got)
			require.Equal(t, first.Name, got[0].Variable)
		})
	}
}
