package domain_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// small are limits low enough for a test to cross each one cheaply.
func small(t *testing.T) domain.PolicyLimits {
	t.Helper()
	fixture, program := shopPolicy(), 0
	for _, r := range fixture.Rules {
		for _, c := range r.Constraints {
			if c.Kind == domain.ConstraintForbidPattern {
				n, _, err := domain.MeasurePattern(c.Value, 1000, 2000)
				require.NoError(t, err)
				program += n
			}
		}
	}
	l, err := domain.DefaultPolicyLimits().With(map[string]int{
		"rules": len(fixture.Rules), "pattern_program_total": program + 30, "scenarios": 3, "steps": 4, "transitions": 2, "templates": 5, "tools": 1,
		"constraints": 6, "judges": 1, "references": 2, "examples": 4, "example_runes": 40, "examples_total": 40,
	})
	require.NoError(t, err)
	return l
}

func TestPolicyLimitsRefuseEachOversizedPartWithItsPath(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *domain.Policy)
		field  string
		limit  string
	}{
		{"rules", func(p *domain.Policy) {
			for i := range 3 {
				p.Rules = append(p.Rules, domain.Rule{ID: fmt.Sprintf("extra%d", i), Condition: "x", Scope: domain.ScopeGlobal, Enabled: true})
			}
		}, "rules", "rules"},
		{"scenarios", func(p *domain.Policy) {
			p.Scenarios = append(p.Scenarios, p.Scenarios[1], p.Scenarios[1])
		}, "scenarios", "scenarios"},
		{"steps", func(p *domain.Policy) {
			p.Scenarios[0].Steps = append(p.Scenarios[0].Steps, domain.Step{ID: "s4"}, domain.Step{ID: "s5"})
		}, "scenarios[0].steps", "steps"},
		{"transitions", func(p *domain.Policy) {
			st := &p.Scenarios[0].Steps[0]
			st.Transitions = append(st.Transitions, st.Transitions[0])
		}, "scenarios[0].steps[0].transitions", "transitions"},
		{"templates", func(p *domain.Policy) {
			p.Templates = append(p.Templates, domain.Template{ID: "t_more", Text: "x", Mode: domain.ModeSuggest}, domain.Template{ID: "t_most", Text: "y", Mode: domain.ModeSuggest})
		}, "templates", "templates"},
		{"tools", func(p *domain.Policy) {
			p.Tools = append(p.Tools, domain.Tool{ID: "second", URL: "https://tools.example.com/b"})
		}, "tools", "tools"},
		{"references", func(p *domain.Policy) { p.Rules[0].TemplateIDs = []string{"t_hello", "t_hello", "t_hello"} },
			"rules[0].template_ids", "references"},
		{"tool outputs", func(p *domain.Policy) { p.Tools[0].Outputs = []string{"name", "order", "c"} }, "tools[0].outputs", "references"},
		{"constraints", func(p *domain.Policy) {
			for range 3 {
				p.Rules[0].Constraints = append(p.Rules[0].Constraints, domain.Constraint{Kind: domain.ConstraintForbidPhrase, Value: "never"})
			}
		}, "rules[*].constraints", "constraints"},
		{"judges", func(p *domain.Policy) {
			for range 2 {
				p.Rules[0].Constraints = append(p.Rules[0].Constraints, domain.Constraint{Kind: domain.ConstraintJudge, Value: "be kind"})
			}
		}, "rules[*].constraints", "judges"},
		{"examples of a rule", func(p *domain.Policy) { p.Rules[0].Examples = append(p.Rules[0].Examples, "one more") },
			"rules[0].examples", "examples"},
		{"negative examples of a transition", func(p *domain.Policy) {
			p.Scenarios[0].Steps[0].Transitions[0].NegativeExamples = []string{"a", "b", "c", "d", "e"}
		}, "scenarios[0].steps[0].transitions[0].negative_examples", "examples"},
		{"example length", func(p *domain.Policy) { p.Scenarios[0].ExitExamples[1] = strings.Repeat("é", 41) },
			"scenarios[0].exit_examples[1]", "example_runes"},
		{"blank example", func(p *domain.Policy) { p.Scenarios[1].EntryExamples[0] = "  " },
			"scenarios[1].entry_examples[0]", "example_runes"},
		{"examples of the agent", func(p *domain.Policy) {
			for i := range 4 {
				p.Rules[i+2].Examples = []string{"a", "b", "c", "d"}
			}
		}, "rules[*].examples", "examples_total"},
		{"pattern program total", func(p *domain.Policy) {
			p.Rules[0].Constraints = append(p.Rules[0].Constraints, domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `\b\d{16}\b`},
				domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `[a-z]{40}\d{40}`})
		}, "rules[*].constraints", "pattern_program_total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := shopPolicy()
			require.Empty(t, p.ValidateWithin(small(t)), "the fixture fits the small limits")
			tt.mutate(p)
			errs := p.ValidateWithin(small(t))
			require.Len(t, errs, 1, "%v", errs)
			assert.Equal(t, tt.field, errs[0].Field)
			assert.Contains(t, errs[0].Message, "policy limit "+tt.limit)
		})
	}
}

func TestPatternsAreMeasuredBeforeTheyAreCompiled(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	for _, tt := range []struct {
		name, pattern, msg string
	}{
		{"22 KB source", strings.Repeat(`(?:refund|money)`, 1400), "at most 1000 bytes"},
		{"nested counted repeats", `(?:(?:\w{30}){30})(?:(?:\d{30}){30})`, "more than 2000 instructions"},
		{"one wide repeat", `[a-z0-9]{1000}x[a-z]{1000}`, "more than 2000 instructions"},
		{"broken", `(oops`, "not a valid regular expression"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := domain.MeasurePattern(tt.pattern, limits.PatternBytes, limits.PatternProgram)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
	n, empty, err := domain.MeasurePattern(`\b\d{16}\b`, limits.PatternBytes, limits.PatternProgram)
	require.NoError(t, err)
	assert.False(t, empty)
	assert.Greater(t, n, 16, "a card-number pattern is measured in instructions")
	assert.Less(t, n, 100)
}

// matchesEmpty must agree with the regexp package on whether a pattern
// matches the empty text, since it replaces compiling to ask.
func TestEmptyMatchAgreesWithTheRegexpPackage(t *testing.T) {
	patterns := []string{
		`a`, `a*`, `a+`, `a?`, `a{0,3}`, `a{2}`, `(a|)`, `(a|b)`, `^`, `$`, `^$`, `\A`, `\z`, `\b`, `\B`,
		`\bx\b`, `(?:)`, `[a-z]*x?`, `(?i)refund`, `(refund)?`, `\d*`, `.`, `.*`, `(?s).`, `[^a]`, `x|y*`,
		`(?:a+)?b`, `^\s*$`, `\b\d{16}\b`, `(?:ab){0}`, `(a*)+`, `(?:a|b)+`, `[[:alpha:]]{0,2}`,
	}
	limits := domain.DefaultPolicyLimits()
	for _, src := range patterns {
		want := regexp.MustCompile("(?i)" + src).MatchString("")
		_, got, err := domain.MeasurePattern(src, limits.PatternBytes, limits.PatternProgram)
		require.NoError(t, err)
		assert.Equal(t, want, got, "pattern %q", src)
	}
}

func TestPolicyLimitOverrides(t *testing.T) {
	l, err := domain.DefaultPolicyLimits().With(map[string]int{"rules": 20000})
	require.NoError(t, err)
	assert.Equal(t, 20000, l.Rules)
	assert.Equal(t, 20000, l.Value("rules"))
	_, err = domain.DefaultPolicyLimits().With(map[string]int{"rulez": 1})
	assert.ErrorContains(t, err, `unknown policy limit "rulez"`)
	_, err = domain.DefaultPolicyLimits().With(map[string]int{"rules": 0})
	assert.ErrorContains(t, err, "1..1000000")
	_, err = domain.DefaultPolicyLimits().With(map[string]int{"rules": 1_000_001})
	assert.ErrorContains(t, err, "1..1000000")
	l, err = domain.DefaultPolicyLimits().With(map[string]int{"rules": 1_000_000})
	require.NoError(t, err)
	assert.Equal(t, 1_000_000, l.Rules)
	for _, row := range domain.PolicyLimitTable() {
		assert.Equal(t, row.Default, domain.DefaultPolicyLimits().Value(row.Name), row.Name)
	}
}

// Examples are policy text like any other: caches weigh a policy by it.
func TestTextBytesCountsExamples(t *testing.T) {
	p := shopPolicy()
	before := p.TextBytes()
	p.Rules[0].Examples = append(p.Rules[0].Examples, "twelve bytes")
	p.Rules[0].NegativeExamples = []string{"seven b"}
	p.Scenarios[0].EntryNegativeExamples = []string{"abc"}
	p.Scenarios[0].Steps[0].Transitions[0].NegativeExamples = []string{"xy"}
	assert.Equal(t, before+12+7+3+2, p.TextBytes())
}
