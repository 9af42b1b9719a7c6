package domain

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckedConstraint is a constraint prepared for checking: phrases
// normalised, patterns compiled. Build it once per policy version.
type CheckedConstraint struct {
	RuleID     string
	Constraint Constraint
	phrase     string
	pattern    *regexp.Regexp
	maxRunes   int // longest pattern match in runes; -1 when unbounded
}

// PrepareConstraint compiles c for rule ruleID. Patterns that do not compile
// were rejected when the policy was validated; here they are an error.
func PrepareConstraint(ruleID string, c Constraint) (CheckedConstraint, error) {
	cc := CheckedConstraint{RuleID: ruleID, Constraint: c}
	switch c.Kind {
	case ConstraintForbidPhrase, ConstraintRequirePhrase:
		cc.phrase = NormalizeText(c.Value)
	case ConstraintForbidPattern:
		// Patterns are matched case-insensitively, like phrases.
		re, err := regexp.Compile("(?i)" + c.Value)
		if err != nil {
			return cc, err
		}
		cc.pattern = re
		cc.maxRunes = -1
		if parsed, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
			cc.maxRunes = maxRunes(parsed.Simplify())
		}
	}
	return cc, nil
}

// CheckLexical checks a reply against a phrase or pattern constraint and
// returns a violation detail, or "" when the reply satisfies it. It returns
// "" for kinds it does not handle (expressions, judges).
func (c CheckedConstraint) CheckLexical(reply string) string {
	return c.CheckLexicalIn(NewCheckedText(reply))
}

// CheckedText is a text to check against several constraints: its
// normalised form (NormalizeText) is made once, at the first phrase
// looked for, not once per constraint.
type CheckedText struct {
	text       string
	norm       string
	normalised bool
	// ascii is asciiYes when text is all ASCII, asciiNo when it is not,
	// 0 before anything asked.
	ascii uint8
}

const (
	asciiYes = 1 + iota
	asciiNo
)

// isASCII reports whether the text is all ASCII, found out once.
func (t *CheckedText) isASCII() bool {
	if t.ascii == 0 {
		t.ascii = asciiNo
		if asciiOnly(t.text) {
			t.ascii = asciiYes
		}
	}
	return t.ascii == asciiYes
}

// asciiOnly reports whether s is all ASCII, eight bytes at a time.
func asciiOnly(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8] // one bounds check; the loads combine into one
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NewCheckedText returns text ready to be checked.
func NewCheckedText(text string) *CheckedText { return &CheckedText{text: text} }

func (t *CheckedText) normalisedText() string {
	if !t.normalised {
		t.norm, t.normalised = NormalizeText(t.text), true
	}
	return t.norm
}

// CheckLexicalIn is CheckLexical on a text checked against several
// constraints.
func (c CheckedConstraint) CheckLexicalIn(reply *CheckedText) string {
	switch c.Constraint.Kind {
	case ConstraintForbidPhrase:
		if indexNormalized(reply, c.phrase, 0) >= 0 {
			return "reply contains forbidden phrase"
		}
	case ConstraintForbidPattern:
		if c.ForbiddenAfterIn(reply, 0, true) >= 0 {
			return "reply matches forbidden pattern"
		}
	case ConstraintRequirePhrase:
		if indexNormalized(reply, c.phrase, 0) < 0 {
			return "reply lacks required phrase"
		}
	}
	return ""
}

// FirstForbidden returns the byte offset in text where the earliest forbidden
// phrase or pattern match starts, or -1. It agrees with CheckLexical on
// every text.
func (c CheckedConstraint) FirstForbidden(text string) int {
	return c.ForbiddenAfter(text, 0, true)
}

// ForbiddenAfter is FirstForbidden for streaming: it reports only matches
// starting at byte from or later (text before from is context, already
// checked), and unless final it ignores a pattern match that reaches the end
// of text, since the next character could still undo a \b or $.
func (c CheckedConstraint) ForbiddenAfter(text string, from int, final bool) int {
	return c.ForbiddenAfterIn(NewCheckedText(text), from, final)
}

// ForbiddenAfterIn is ForbiddenAfter on a text checked against several
// constraints.
func (c CheckedConstraint) ForbiddenAfterIn(t *CheckedText, from int, final bool) int {
	switch c.Constraint.Kind {
	case ConstraintForbidPattern:
		for _, loc := range c.pattern.FindAllStringIndex(t.text, -1) {
			if loc[1] > loc[0] && loc[0] >= from && (final || loc[1] < len(t.text)) {
				return loc[0]
			}
		}
	case ConstraintForbidPhrase:
		return indexNormalized(t, c.phrase, from)
	}
	return -1
}

// NormalizeText case-folds text and collapses every run of white space to
// one space, so "Guaranteed\n  Refund" meets the phrase "guaranteed refund".
// Every reply with a phrase constraint is normalised once per turn: runs
// of ASCII that stay as they are (no capitals, no white space) are copied
// whole, and the rest is folded rune by rune.
func NormalizeText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		if asciiKept[s[i]] {
			j := i + 1
			for j < len(s) && asciiKept[s[j]] {
				j++
			}
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteString(s[i:j])
			i = j
			continue
		}
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if r < utf8.RuneSelf { // a capital: asciiKept has every other ASCII byte that is not space
			b.WriteByte(byte(r) + 'a' - 'A')
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// asciiKept marks the bytes NormalizeText copies as they are: ASCII that
// is neither a capital letter nor white space.
var asciiKept = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = !unicode.IsSpace(rune(c)) && unicode.ToLower(rune(c)) == rune(c)
	}
	return t
}()

// indexNormalized finds phrase (already normalised) in text as
// NormalizeText would see it, starting at a word boundary and at byte from
// or later, and returns the byte offset in text where the match starts, or
// -1. A phrase may end
// inside a word, so "guaranteed refund" also catches "guaranteed refunds",
// but "free" does not catch "carefree".
func indexNormalized(t *CheckedText, phrase string, from int) int {
	if phrase == "" {
		return -1
	}
	if t.isASCII() && plainPhrase(phrase) {
		return indexFoldedASCII(t.text, phrase, from)
	}
	return indexInNormalized(t, phrase, from)
}

// indexInNormalized is indexNormalized by the normalised text: for any
// text and phrase, and the reference indexFoldedASCII is tested against.
func indexInNormalized(t *CheckedText, phrase string, from int) int {
	// Most texts contain no forbidden phrase: search the normalised text
	// first and build the map back to source offsets only for a hit.
	text, n := t.text, t.normalisedText()
	for at := strings.Index(n, phrase); at >= 0; {
		if at == 0 || !isWordRune(lastRune(n[:at])) || !isWordRune(firstRune(phrase)) {
			if src := sourceOffset(text, at); src >= from {
				return src
			}
		}
		_, size := utf8.DecodeRuneInString(n[at:])
		next := strings.Index(n[at+size:], phrase)
		if next < 0 {
			return -1
		}
		at += size + next
	}
	return -1
}

// plainPhrase reports whether phrase is ASCII as NormalizeText writes it:
// bytes it keeps as they are, in words one space apart. Such a phrase is
// found in an ASCII text without normalising it (indexFoldedASCII).
func plainPhrase(phrase string) bool {
	for i := 0; i < len(phrase); i++ {
		c := phrase[i]
		if c == ' ' {
			if i == 0 || i == len(phrase)-1 || phrase[i-1] == ' ' {
				return false
			}
			continue
		}
		if c >= utf8.RuneSelf || !asciiKept[c] {
			return false
		}
	}
	return true
}

// indexFoldedASCII is indexNormalized on an ASCII text and a plain phrase
// (plainPhrase), read off the text as it is: NormalizeText(text) then
// holds text's bytes but white space, capitals lowered, and every run of
// white space between two of them as one space, so a phrase's letter
// meets a byte of text folded to lower case and its space meets a run of
// white space; the byte before a match, or white space (a space, or
// nothing, once normalised), tells a word boundary. Each place where the
// phrase's first byte is, in either case, is tried.
func indexFoldedASCII(text, phrase string, from int) int {
	first := phrase[0]
	other := first // the first byte's capital, when it is a letter
	if 'a' <= first && first <= 'z' {
		other = first - 'a' + 'A'
	}
	wordStart := isASCIIWord(first)
	nextFirst, nextOther := -1, -1 // where each was last found, from at
	for at := from; at < len(text); at++ {
		if nextFirst < at {
			nextFirst = indexByteFrom(text, first, at)
		}
		if other != first && nextOther < at && nextOther != len(text) {
			if nextOther = indexByteFrom(text, other, at); nextOther < 0 {
				nextOther = len(text) // none left: not looked for again
			}
		}
		at = nextFirst
		if other != first && (at < 0 || nextOther < at) {
			at = nextOther
		}
		if at < 0 || at == len(text) {
			return -1
		}
		if (at == 0 || !wordStart || !isASCIIWord(text[at-1])) && foldedPrefix(text[at:], phrase) {
			return at
		}
	}
	return -1
}

// indexByteFrom is the first index of c in s at from or after, or -1.
func indexByteFrom(s string, c byte, from int) int {
	i := strings.IndexByte(s[from:], c)
	if i < 0 {
		return -1
	}
	return from + i
}

// foldedPrefix reports whether s, folded as NormalizeText folds it, begins
// with the plain phrase.
func foldedPrefix(s, phrase string) bool {
	j := 0
	for k := 0; k < len(phrase); k++ {
		c := phrase[k]
		if c == ' ' {
			if j >= len(s) || !asciiSpace[s[j]] {
				return false
			}
			for j < len(s) && asciiSpace[s[j]] {
				j++
			}
			continue
		}
		if j >= len(s) || lowerASCII(s[j]) != c {
			return false
		}
		j++
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c - 'A' + 'a'
	}
	return c
}

// isASCIIWord is isWordRune for an ASCII byte.
func isASCIIWord(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9'
}

// asciiSpace marks the ASCII bytes unicode.IsSpace holds white space.
var asciiSpace = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = unicode.IsSpace(rune(c))
	}
	return t
}()

// sourceOffset maps a byte offset of NormalizeText(text) back to text.
func sourceOffset(text string, normAt int) int {
	pos, space := 0, false
	var buf [utf8.UTFMax]byte
	for i, r := range text {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && pos > 0 {
			if pos == normAt {
				return i
			}
			pos++
		}
		space = false
		if pos >= normAt {
			return i
		}
		pos += utf8.EncodeRune(buf[:], unicode.ToLower(r))
	}
	return len(text)
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// PhraseRunes is how many runes a phrase constraint's phrase has once
// normalised (as it is matched), prepared once rather than per turn.
func (c CheckedConstraint) PhraseRunes() int { return utf8.RuneCountInString(c.phrase) }

// MaxMatchRunes returns the most runes a forbidden pattern can match, and
// false when a match can be arbitrarily long. Streaming keeps that many
// runes back; an unbounded pattern makes the reply wait until it is whole.
func (c CheckedConstraint) MaxMatchRunes() (int, bool) {
	if c.pattern == nil {
		return 0, false
	}
	return c.maxRunes, c.maxRunes >= 0
}

// maxRunes is the longest match of re in runes, or -1 when unbounded.
func maxRunes(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture:
		return maxRunes(re.Sub[0])
	case syntax.OpConcat:
		total := 0
		for _, s := range re.Sub {
			n := maxRunes(s)
			if n < 0 {
				return -1
			}
			total += n
		}
		return total
	case syntax.OpAlternate:
		best := 0
		for _, s := range re.Sub {
			n := maxRunes(s)
			if n < 0 {
				return -1
			}
			best = max(best, n)
		}
		return best
	case syntax.OpQuest:
		return maxRunes(re.Sub[0])
	case syntax.OpRepeat:
		if re.Max < 0 {
			return -1
		}
		n := maxRunes(re.Sub[0])
		if n < 0 {
			return -1
		}
		return n * re.Max
	case syntax.OpStar, syntax.OpPlus:
		return -1
	default:
		// Empty matches and assertions (^, $, \b) consume nothing.
		return 0
	}
}
