package domain_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

func prepare(t *testing.T, kind domain.ConstraintKind, value string) domain.CheckedConstraint {
	t.Helper()
	c, err := domain.PrepareConstraint("r1", domain.Constraint{Kind: kind, Value: value})
	require.NoError(t, err)
	require.Equal(t, "r1", c.RuleID)
	require.Equal(t, domain.Constraint{Kind: kind, Value: value}, c.Constraint)
	return c
}

func TestPrepareConstraintRejectsBadPatterns(t *testing.T) {
	_, err := domain.PrepareConstraint("r1", domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: "(refund"})
	require.Error(t, err)
	_, err = domain.PrepareConstraint("r1", domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: "[a-"})
	require.Error(t, err)
}

func TestCheckLexical(t *testing.T) {
	tests := []struct {
		name    string
		kind    domain.ConstraintKind
		value   string
		reply   string
		violate bool
	}{
		{"phrase hit", domain.ConstraintForbidPhrase, "guaranteed refund", "You get a guaranteed refund.", true},
		{"phrase hit across case and whitespace", domain.ConstraintForbidPhrase, "guaranteed refund", "Guaranteed\n  REFUND", true},
		{"phrase with odd spacing in the policy", domain.ConstraintForbidPhrase, "  Guaranteed \t Refund ", "a guaranteed refund", true},
		{"phrase not present", domain.ConstraintForbidPhrase, "guaranteed refund", "A refund is guaranteed.", false},
		{"phrase split by punctuation is not a hit", domain.ConstraintForbidPhrase, "guaranteed refund", "guaranteed-refund", false},
		{"empty reply passes forbid", domain.ConstraintForbidPhrase, "guaranteed refund", "", false},
		{"pattern hit", domain.ConstraintForbidPattern, `\d{4} \d{4}`, "card 1234 5678", true},
		{"pattern is case-insensitive", domain.ConstraintForbidPattern, `\bfree shipping\b`, "FREE Shipping today", true},
		{"pattern miss", domain.ConstraintForbidPattern, `\d{4} \d{4}`, "card ending 5678", false},
		{"required phrase present", domain.ConstraintRequirePhrase, "30 days", "Returns within 30\tDays.", false},
		{"required phrase missing", domain.ConstraintRequirePhrase, "30 days", "Returns within thirty days.", true},
		{"required phrase on empty reply", domain.ConstraintRequirePhrase, "30 days", "", true},
		{"expression is not lexical", domain.ConstraintExpression, "reply.max_amount <= 10", "$5000", false},
		{"judge is not lexical", domain.ConstraintJudge, "never rude", "you fool", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := prepare(t, tt.kind, tt.value)
			got := c.CheckLexical(tt.reply)
			if tt.violate {
				require.NotEmpty(t, got)
			} else {
				require.Empty(t, got)
			}
		})
	}
}

func TestFirstForbidden(t *testing.T) {
	at := func(text, sub string) int {
		i := strings.Index(text, sub)
		if i < 0 {
			panic(sub + " not in " + text)
		}
		return i
	}
	tests := []struct {
		name  string
		kind  domain.ConstraintKind
		value string
		text  string
		want  int
	}{
		{"phrase at start", domain.ConstraintForbidPhrase, "guaranteed refund", "Guaranteed refund!", 0},
		{"phrase later", domain.ConstraintForbidPhrase, "guaranteed refund", "We offer a guaranteed refund", 11},
		{"phrase spread over whitespace", domain.ConstraintForbidPhrase, "guaranteed refund", "We offer a GUARANTEED\n\n   refund", 11},
		{"collapsed whitespace before the match", domain.ConstraintForbidPhrase, "guaranteed refund",
			"Hi \n\n\t  there,   a guaranteed refund", at("Hi \n\n\t  there,   a guaranteed refund", "guaranteed")},
		{"multi-byte runes before the match", domain.ConstraintForbidPhrase, "guaranteed refund",
			"Grüße — naïve café: Guaranteed Refund", at("Grüße — naïve café: Guaranteed Refund", "Guaranteed")},
		{"lower-casing shrinks a rune before the match", domain.ConstraintForbidPhrase, "guaranteed refund",
			"\u212A\u212A guaranteed refund", at("\u212A\u212A guaranteed refund", "guaranteed")},
		{"multi-byte phrase", domain.ConstraintForbidPhrase, "café gratuit", "Un  CAFÉ\tgratuit", 4},
		{"no phrase hit", domain.ConstraintForbidPhrase, "guaranteed refund", "refund guaranteed", -1},
		{"pattern offset", domain.ConstraintForbidPattern, `\d{4}`, "card 1234", 5},
		{"pattern offset after multi-byte runes", domain.ConstraintForbidPattern, `\d{4}`, "€€ 1234", len("€€ ")},
		{"pattern case-insensitive", domain.ConstraintForbidPattern, `secret`, "a SECRET", 2},
		{"no pattern hit", domain.ConstraintForbidPattern, `\d{4}`, "card 123", -1},
		{"required phrase never forbids", domain.ConstraintRequirePhrase, "30 days", "30 days", -1},
		{"expression never forbids", domain.ConstraintExpression, "reply.length < 5", "a long reply", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := prepare(t, tt.kind, tt.value)
			require.Equal(t, tt.want, c.FirstForbidden(tt.text))
		})
	}
}

func TestFirstForbiddenAgreesWithCheckLexical(t *testing.T) {
	c := prepare(t, domain.ConstraintForbidPhrase, "guaranteed refund")
	for _, text := range []string{"x Guaranteed  refund", "nothing", "guaranteed\trefund", "guaranteed refun"} {
		require.Equal(t, c.CheckLexical(text) != "", c.FirstForbidden(text) >= 0, text)
	}
}

func TestMaxMatchRunes(t *testing.T) {
	tests := []struct {
		pattern string
		want    int
		bounded bool
	}{
		{`\d{4}`, 4, true},
		{`(ab|c)`, 2, true},
		{`colou?r`, 6, true},
		{`refund`, 6, true},
		{`\bfree\b`, 4, true},
		{`^card \d{2,5}$`, 10, true},
		{`[a-z]{3}-€`, 5, true},
		{`a+`, 0, false},
		{`.*`, 0, false},
		{`x{2,}`, 0, false},
		{`ab(c|d*)`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			c := prepare(t, domain.ConstraintForbidPattern, tt.pattern)
			n, bounded := c.MaxMatchRunes()
			require.Equal(t, tt.bounded, bounded)
			if tt.bounded {
				require.Equal(t, tt.want, n)
			}
		})
	}
}

func TestMaxMatchRunesForPhrasesIsNotBounded(t *testing.T) {
	_, bounded := prepare(t, domain.ConstraintForbidPhrase, "guaranteed refund").MaxMatchRunes()
	require.False(t, bounded)
}

func TestNormalizeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Guaranteed\n  REFUND", "guaranteed refund"},
		{"  leading and trailing \t\n", "leading and trailing"},
		{"Grüße\u00a0AUS  Köln", "grüße aus köln"},
		{"", ""},
		{" \n\t ", ""},
		{"ÉCOLE", "école"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, domain.NormalizeText(tt.in))
		})
	}
}

// While a reply streams, a pattern match that reaches the end of what has
// arrived is not yet a match: the next characters could undo a \b or $
// ("free" may be the start of "freedom"). Once the reply is whole it is.
// Text before from was checked already and is not reported again.
func TestForbiddenAfterWhileStreaming(t *testing.T) {
	c := prepare(t, domain.ConstraintForbidPattern, `\bfree\b`)
	tests := []struct {
		text  string
		from  int
		final bool
		want  int
	}{
		{"it is free", 0, false, -1},
		{"it is free", 0, true, 6},
		{"it is free!", 0, false, 6},
		{"it is freedom", 0, true, -1},
		{"free, free", 1, true, 6},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, c.ForbiddenAfter(tt.text, tt.from, tt.final), "%q from %d (final %v)", tt.text, tt.from, tt.final)
	}
}
