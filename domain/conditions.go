package domain

import (
	"strings"
	"unicode"
)

// Condition is one condition as a policy writes it: a rule's condition, a
// scenario's entry or exit condition, or a transition's. Its text lists
// phrasings separated by ';' or line breaks; those and Examples are what
// the matcher learns the condition from, Negatives what it learns it from
// not.
type Condition struct {
	Text      string
	Examples  []string
	Negatives []string
}

// MatchCondition is the rule's condition, as the matcher learns it.
func (r *Rule) MatchCondition() Condition {
	return Condition{Text: r.Condition, Examples: r.Examples, Negatives: r.NegativeExamples}
}

// Entry is the scenario's entry condition.
func (s *Scenario) Entry() Condition {
	return Condition{Text: s.EntryCondition, Examples: s.EntryExamples, Negatives: s.EntryNegativeExamples}
}

// Exit is the scenario's exit condition; see Condition.Exists.
func (s *Scenario) Exit() Condition {
	return Condition{Text: s.ExitCondition, Examples: s.ExitExamples, Negatives: s.ExitNegativeExamples}
}

// MatchCondition is the transition's condition, as the matcher learns it;
// a transition with only a when has none.
func (t *Transition) MatchCondition() Condition {
	return Condition{Text: t.Condition, Examples: t.Examples, Negatives: t.NegativeExamples}
}

// Exists reports whether the condition has anything to match: an exit
// condition is optional.
func (c Condition) Exists() bool { return len(c.AllExamples()) > 0 }

// AllExamples are the text's alternatives then the examples, trimmed, each
// once.
func (c Condition) AllExamples() []string {
	return distinctTrimmed(SplitCondition(c.Text), c.Examples)
}

// AllNegatives are the negative examples, trimmed, each once.
func (c Condition) AllNegatives() []string { return distinctTrimmed(c.Negatives) }

func distinctTrimmed(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range lists {
		for _, s := range list {
			if s = strings.TrimSpace(s); s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// SplitCondition splits a condition's text into its alternatives: phrasings
// separated by ';' or line breaks, each one example of the condition.
func SplitCondition(condition string) []string {
	parts := strings.FieldsFunc(condition, func(r rune) bool { return r == ';' || r == '\n' })
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// phrasingKey is an example reduced to its words, lower case: two examples
// with the same key are the same phrasing to any matcher.
func phrasingKey(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ")
}
