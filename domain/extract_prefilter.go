package domain

import (
	"math/bits"
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
)

// byteSet is a set of ASCII bytes: bit b of word b/64.
type byteSet [2]uint64

func (s *byteSet) add(b rune)      { s[b>>6] |= 1 << (b & 63) }
func (s *byteSet) has(b byte) bool { return b < utf8.RuneSelf && s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) size() int       { return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) }
func (s *byteSet) union(o byteSet) { s[0] |= o[0]; s[1] |= o[1] }
func (s *byteSet) addRange(lo, hi rune) {
	for r := lo; r <= hi; r++ {
		s.add(r)
	}
}

// maxNeeds bounds how many sets a pattern's needs keep.
const maxNeeds = 8

// needSets are sets of ASCII bytes every non-empty match holds a byte of
// each of; none when nothing is certain.
type needSets []byteSet

// patternNeeds is what every non-empty match of pattern (compiled as
// regexp.Compile compiles it) needs. A message missing a byte of one of
// the sets has no match, which a scan of its bytes tells far sooner than
// the regexp, which tries the pattern at every position: the demo's order
// number pattern cost about 16,000 instructions on a message without a
// digit in it.
func patternNeeds(pattern string) needSets {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	return needs(re.Simplify())
}

// needs is patternNeeds for a parsed expression. Characters outside ASCII
// give up: a byte set cannot hold them, and a class of them is not needed.
func needs(re *syntax.Regexp) needSets {
	switch re.Op {
	case syntax.OpLiteral:
		return literalNeeds(re)
	case syntax.OpCharClass:
		var s byteSet
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= utf8.RuneSelf {
				return nil
			}
			s.addRange(re.Rune[i], re.Rune[i+1])
		}
		if len(re.Rune) == 0 {
			return nil
		}
		return needSets{s}
	case syntax.OpCapture, syntax.OpPlus:
		return needs(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return needs(re.Sub[0])
		}
	case syntax.OpConcat:
		var all needSets
		for _, sub := range re.Sub {
			all = all.and(needs(sub))
		}
		return all
	case syntax.OpAlternate:
		return alternateNeeds(re.Sub)
	}
	// Empty-width assertions, optional and starred parts and any-character
	// match without a character of a set.
	return nil
}

// alternateNeeds is what every branch needs: a match holds one branch's
// bytes of each of its sets, so a byte of the union of one set of each
// branch, for every choice of those sets.
func alternateNeeds(subs []*syntax.Regexp) needSets {
	out := needSets{{}}
	for _, sub := range subs {
		branch := needs(sub)
		if len(branch) == 0 {
			return nil
		}
		var next needSets
		for _, o := range out {
			for _, b := range branch {
				u := o
				u.union(b)
				next = next.and(needSets{u})
			}
		}
		out = next
	}
	return out
}

// and is both ns and more, without duplicates, up to maxNeeds sets (the
// smallest kept, the most telling).
func (ns needSets) and(more needSets) needSets {
	for _, m := range more {
		if !slices.Contains(ns, m) {
			ns = append(ns, m)
		}
	}
	if len(ns) > maxNeeds {
		slices.SortStableFunc(ns, func(a, b byteSet) int { return a.size() - b.size() })
		ns = ns[:maxNeeds]
	}
	return ns
}

// literalNeeds is each of a literal's characters, with its case variants
// when it folds case.
func literalNeeds(re *syntax.Regexp) needSets {
	var out needSets
	for _, r := range re.Rune {
		var s byteSet
		ascii := r < utf8.RuneSelf
		if ascii {
			s.add(r)
		}
		if re.Flags&syntax.FoldCase != 0 {
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				if f >= utf8.RuneSelf {
					ascii = false
					break
				}
				s.add(f)
			}
		}
		if ascii {
			out = out.and(needSets{s})
		}
	}
	return out
}

// admits reports whether msg holds a byte of each set.
func (ns needSets) admits(msg string) bool {
	for i := range ns {
		if !ns[i].holdsAny(msg) {
			return false
		}
	}
	return true
}

// holdsAny reports whether msg has a byte of s.
func (s *byteSet) holdsAny(msg string) bool {
	for i := 0; i < len(msg); i++ {
		if s.has(msg[i]) {
			return true
		}
	}
	return false
}
