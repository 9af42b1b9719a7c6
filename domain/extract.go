package domain

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ExtractProblem says why a mention of a variable gave no value.
type ExtractProblem string

// Extraction problems.
const (
	// ProblemInvalid: the message gives a value, but not a valid one.
	ProblemInvalid ExtractProblem = "invalid"
	// ProblemAmbiguous: the message gives several values, or one that
	// reads two ways.
	ProblemAmbiguous ExtractProblem = "ambiguous"
)

// ExtractError is a mention of a variable that gave no value. Reason is
// written for the customer: it names the variable and what was wrong, so
// a re-ask can quote it.
type ExtractError struct {
	Variable string
	Problem  ExtractProblem
	// Text is what was read ("AC-12345"; several texts joined by ", ").
	Text   string
	Reason string
}

func (e *ExtractError) Error() string { return e.Reason }

// Found is a value read from a message.
type Found struct {
	Value any
	// Text is the part of the message the value came from.
	Text string
}

// VariableSource says who set a variable in a turn.
type VariableSource string

// Variable sources.
const (
	SetByExtractor VariableSource = "extractor" // a deterministic extractor read the message
	SetByModel     VariableSource = "model"     // the model's extraction call read the message
	SetByTool      VariableSource = "tool"      // a tool's output
	SetByMetadata  VariableSource = "metadata"  // the request's metadata
	SetByInitial   VariableSource = "initial"   // the declaration's initial value
	// ClearedOnStart is a value removed by the start of a scenario with
	// on_start: clear; its extraction has no value.
	ClearedOnStart VariableSource = "on_start"
)

// Extraction is one variable read in a turn, for the turn record: the
// value set and the text it came from, or why none was set.
type Extraction struct {
	Variable string         `json:"variable"`
	Source   VariableSource `json:"source"`
	Value    any            `json:"value,omitempty"`
	Text     string         `json:"text,omitempty"`
	Problem  ExtractProblem `json:"problem,omitempty"`
	Reason   string         `json:"reason,omitempty"`
}

// MaxTextValueRunes bounds a text variable's value.
const MaxTextValueRunes = 1000

// Extractor reads one variable's values from messages and checks values
// from elsewhere (the model, tools, metadata) against its type. Build it
// with NewExtractor; it is immutable and safe for concurrent use.
type Extractor struct {
	v       Variable
	pattern *regexp.Regexp // pattern variables
	valid   *regexp.Regexp // pattern variables with Valid
	// needs are what every match of pattern holds: a message that lacks
	// them has no match (patternNeeds).
	needs needSets
	words *phraseMatcher // enum and boolean variables
}

// NewExtractor compiles v's extractor. v must have passed validation; an
// error here means it did not.
func NewExtractor(v Variable) (*Extractor, error) {
	x := &Extractor{v: v}
	var err error
	switch v.Type {
	case VarPattern:
		if x.pattern, err = regexp.Compile("(?i)" + v.Pattern); err != nil {
			return nil, fmt.Errorf("variable %s: pattern: %w", v.Name, err)
		}
		x.needs = patternNeeds("(?i)" + v.Pattern)
		if v.Valid != "" {
			if x.valid, err = regexp.Compile("(?i)^(?:" + v.Valid + ")$"); err != nil {
				return nil, fmt.Errorf("variable %s: valid: %w", v.Name, err)
			}
		}
	case VarEnum:
		x.words = newPhraseMatcher(enumPhrases(v.Values))
	case VarBoolean:
		x.words = booleanPhrases
	case VarText, VarNumber, VarDate, VarAmount, VarEmail, VarPhone:
	default:
		return nil, fmt.Errorf("variable %s: unknown type %q", v.Name, v.Type)
	}
	return x, nil
}

// Variable returns the declaration the extractor reads.
func (x *Extractor) Variable() Variable { return x.v }

// ReadsUnasked reports whether the variable's values may be read from a
// message that was not asked for it (a flow's later step, read early:
// VariableSet.ExtractAhead). A pattern (the agent's own format for this
// variable), an e-mail address (an "@" and a domain) and an enum's values
// (the agent's words for them, a negation not counted) say which variable
// they are wherever they are said. The other kinds do not: a text takes
// the whole message, a boolean any "ok" or "no", a number any number (an
// order number's digits, a quantity), a phone any run of 7 to 15 digits
// (an order or account number), a date any day (of the purchase, of the
// delivery: "I got it yesterday") and an amount any sum (the price paid,
// where the variable is the refund wanted): read unasked, they would fill
// a later step with what was said of something else, and the flow would
// pass that step without asking.
func (x *Extractor) ReadsUnasked() bool {
	switch x.v.Type {
	case VarPattern, VarEmail, VarEnum:
		return true
	}
	return false
}

// candidate is one mention of the variable in a text: a value, or why
// the mention gives none.
type candidate struct {
	value      any
	text       string
	start, end int // byte offsets in the text read
	// invalid marks a mention that is no valid value; ambiguous one that
	// reads two ways. detail says why, in words, where the type knows.
	invalid, ambiguous bool
	detail             string
}

func (c candidate) ok() bool { return !c.invalid && !c.ambiguous }

// invalidBecause marks c invalid with detail.
func (c candidate) invalidBecause(detail string) candidate {
	c.invalid, c.detail = true, detail
	return c
}

// Extract reads the variable from msg, with relative dates taken from
// now. ok is false when msg does not mention it. A mention that gives no
// usable value is an *ExtractError: invalid (the reason names what was
// wrong) or ambiguous (two different values: never just the first).
func (x *Extractor) Extract(msg string, now time.Time) (found Found, ok bool, err error) {
	c, ok, err := x.resolve(x.candidates(msg, now))
	return Found{Value: c.value, Text: c.text}, ok, err
}

// extractSpan is Extract that also returns where in msg the mentions
// were, so a caller reading several variables can keep them apart.
func (x *Extractor) extractSpan(msg string, now time.Time) (c candidate, spans [][2]int, ok bool, err error) {
	cands := x.candidates(msg, now)
	for _, cd := range cands {
		spans = append(spans, [2]int{cd.start, cd.end})
	}
	c, ok, err = x.resolve(cands)
	return c, spans, ok, err
}

func (x *Extractor) candidates(msg string, now time.Time) []candidate {
	switch x.v.Type {
	case VarPattern:
		return x.patternCandidates(msg)
	case VarEnum, VarBoolean:
		return x.words.candidates(msg)
	case VarNumber:
		return x.bounded(numberCandidates(msg))
	case VarAmount:
		return x.bounded(x.amountCandidates(msg))
	case VarDate:
		return dateCandidates(msg, now, x.v.DateOrder)
	case VarEmail:
		return emailCandidates(msg)
	case VarPhone:
		return phoneCandidates(msg)
	default:
		return textCandidates(msg)
	}
}

// resolve turns a message's mentions into one value: the only valid value
// (said once or more); else ambiguous when several differ; else the
// first mention's problem.
func (x *Extractor) resolve(cands []candidate) (candidate, bool, error) {
	var valid []candidate
	seen := map[string]bool{}
	for _, c := range cands {
		if !c.ok() {
			continue
		}
		if k := valueKey(c.value); !seen[k] {
			seen[k] = true
			valid = append(valid, c)
		}
	}
	switch {
	case len(valid) == 1:
		return valid[0], true, nil
	case len(valid) > 1:
		texts := make([]string, len(valid))
		for i, c := range valid {
			texts[i] = fmt.Sprintf("%q", c.text)
		}
		return candidate{}, true, &ExtractError{Variable: x.v.Name, Problem: ProblemAmbiguous, Text: joinTexts(valid),
			Reason: fmt.Sprintf("the message gives more than one %s (%s): which one is it?", x.v.Label(), strings.Join(texts, ", "))}
	case len(cands) > 0:
		c := cands[0]
		problem := ProblemInvalid
		if c.ambiguous {
			problem = ProblemAmbiguous
		}
		return candidate{}, true, &ExtractError{Variable: x.v.Name, Problem: problem, Text: c.text, Reason: x.reason(c)}
	}
	return candidate{}, false, nil
}

// reason words a mention's problem for the customer.
func (x *Extractor) reason(c candidate) string {
	if c.ambiguous {
		return fmt.Sprintf("%q could mean %s", c.text, c.detail)
	}
	msg := fmt.Sprintf("%q is not a valid %s", c.text, x.v.Label())
	switch {
	case c.detail != "":
		msg += ": " + c.detail
	case x.v.Hint != "":
		msg += ": " + x.v.Hint
	}
	return msg
}

func joinTexts(cs []candidate) string {
	texts := make([]string, len(cs))
	for i, c := range cs {
		texts[i] = c.text
	}
	return strings.Join(texts, ", ")
}

// valueKey is a value's identity for telling values apart.
func valueKey(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// patternCandidates are the pattern's matches, rewritten by Normalize and
// held to Valid. A mismatch on Valid has no words of its own: the hint
// says what a valid value looks like.
func (x *Extractor) patternCandidates(msg string) []candidate {
	if !x.needs.admits(msg) {
		return nil
	}
	var out []candidate
	for _, m := range x.pattern.FindAllStringSubmatchIndex(msg, 32) {
		if m[0] == m[1] {
			continue
		}
		out = append(out, x.patternCandidate(msg, m))
	}
	return out
}

// patternCandidate is the pattern's match m of msg, rewritten by
// Normalize and held to Valid and to MaxTextValueRunes. A normaliser's
// every reference expands to at most the longest group it could name, so
// one whose bound passes the limit is not expanded: "$1$1…" over a long
// match would otherwise make a value of the normaliser's length times
// the message's.
func (x *Extractor) patternCandidate(msg string, m []int) candidate {
	text := msg[m[0]:m[1]]
	value := text
	c := candidate{value: text, text: text, start: m[0], end: m[1]}
	tooLong := func() candidate {
		c.value, c.text = "", string([]rune(text)[:min(utf8.RuneCountInString(text), 40)])+"…"
		return c.invalidBecause(fmt.Sprintf("it is longer than %d characters", MaxTextValueRunes))
	}
	if norm := x.v.Normalize; norm != "" {
		if len(norm)+strings.Count(norm, "$")*longestGroup(norm, m) > utf8.UTFMax*MaxTextValueRunes {
			return tooLong()
		}
		value = string(x.pattern.ExpandString(nil, norm, msg, m))
		c.value = value
	}
	if utf8.RuneCountInString(value) > MaxTextValueRunes {
		return tooLong()
	}
	if x.valid != nil && !x.valid.MatchString(value) {
		c.invalid = true
	}
	return c
}

// longestGroup is the longest text a reference of norm could expand to in
// match m: its longest group, or the whole match when norm names $0.
func longestGroup(norm string, m []int) int {
	if strings.Contains(norm, "$0") || strings.Contains(norm, "${0}") {
		return m[1] - m[0]
	}
	longest := 0
	for g := 2; g+1 < len(m); g += 2 {
		longest = max(longest, m[g+1]-m[g])
	}
	return longest
}

// textCandidates is the whole message, trimmed.
func textCandidates(msg string) []candidate {
	text := strings.TrimSpace(msg)
	if text == "" {
		return nil
	}
	start := strings.Index(msg, text)
	c := candidate{value: text, text: text, start: start, end: start + len(text)}
	if utf8.RuneCountInString(text) > MaxTextValueRunes {
		c.text = string([]rune(text)[:40]) + "…"
		c = c.invalidBecause(fmt.Sprintf("it is longer than %d characters", MaxTextValueRunes))
	}
	return []candidate{c}
}

// bounded holds number and amount candidates to Min and Max.
func (x *Extractor) bounded(cands []candidate) []candidate {
	for i := range cands {
		c := &cands[i]
		if !c.ok() {
			continue
		}
		n := numericValue(c.value)
		switch {
		case x.v.Min != nil && n < *x.v.Min:
			*c = c.invalidBecause("it must be at least " + FormatValue(*x.v.Min))
		case x.v.Max != nil && n > *x.v.Max:
			*c = c.invalidBecause("it must be at most " + FormatValue(*x.v.Max))
		}
	}
	return cands
}

func numericValue(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case map[string]any:
		f, _ := n["value"].(float64)
		return f
	}
	return 0
}

func sortByStart(cs []candidate) []candidate {
	slices.SortStableFunc(cs, func(a, b candidate) int { return cmp.Compare(a.start, b.start) })
	return cs
}
