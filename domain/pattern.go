package domain

import (
	"fmt"
	"regexp/syntax"
)

// patternFlags are how forbid_patterns are read: Perl syntax, matched
// case-insensitively like phrases.
const patternFlags = syntax.Perl | syntax.FoldCase

// MeasurePattern checks a regular expression without compiling it into a
// matcher: that it parses, that its source is at most maxBytes and that
// the RE2 program it compiles to has at most maxProgram instructions. It
// returns the program's size and whether the pattern matches the empty
// text (a forbid_pattern that does would forbid every reply).
//
// The size is first estimated from the parsed pattern, before anything is
// expanded: a short pattern with nested counted repeats can describe a
// program of millions of instructions, and simplifying it to find out
// would allocate all of them.
func MeasurePattern(src string, maxBytes, maxProgram int) (program int, empty bool, err error) {
	if len(src) > maxBytes {
		return 0, false, fmt.Errorf("must be at most %d bytes (policy limit pattern_bytes)", maxBytes)
	}
	re, err := syntax.Parse(src, patternFlags)
	if err != nil {
		return 0, false, fmt.Errorf("is not a valid regular expression: %w", err)
	}
	tooBig := fmt.Errorf("compiles to more than %d instructions (policy limit pattern_program): use fewer or smaller counted repeats", maxProgram)
	if estimateProgram(re, maxProgram) > maxProgram {
		return 0, false, tooBig
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, false, fmt.Errorf("is not a valid regular expression: %w", err)
	}
	if len(prog.Inst) > maxProgram {
		return 0, false, tooBig
	}
	return len(prog.Inst), matchesEmpty(re), nil
}

// estimateProgram bounds from above the instructions re compiles to,
// counting a counted repeat as its copies. It stops counting past limit so
// nested repeats cannot overflow.
func estimateProgram(re *syntax.Regexp, limit int) int {
	sum := func(subs []*syntax.Regexp) int {
		n := 0
		for _, s := range subs {
			n += estimateProgram(s, limit)
			if n > limit {
				return limit + 1
			}
		}
		return n
	}
	n := 1
	switch re.Op {
	case syntax.OpLiteral:
		n = max(1, len(re.Rune))
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		n = 2 + estimateProgram(re.Sub[0], limit)
	case syntax.OpConcat:
		n = sum(re.Sub)
	case syntax.OpAlternate:
		n = sum(re.Sub) + len(re.Sub)
	case syntax.OpRepeat:
		sub := estimateProgram(re.Sub[0], limit)
		copies := re.Max
		if copies < 0 {
			copies = re.Min + 1
		}
		if sub > 0 && copies > (limit+1)/sub {
			return limit + 1
		}
		n = copies*sub + copies + 1
	}
	return min(n, limit+1)
}

// matchesEmpty reports whether re matches the empty text, without
// compiling it: what regexp.MatchString(re, "") would say.
func matchesEmpty(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpNoMatch, syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpWordBoundary:
		return false
	case syntax.OpLiteral:
		return len(re.Rune) == 0
	case syntax.OpCapture, syntax.OpPlus:
		return matchesEmpty(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || matchesEmpty(re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !matchesEmpty(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if matchesEmpty(s) {
				return true
			}
		}
		return false
	default:
		// Empty matches, stars, quests, and the assertions that hold on
		// the empty text (^, $, \A, \z, \B).
		return true
	}
}
