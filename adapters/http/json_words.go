package httpapi

import "math/bits"

// Eight bytes at a time: a chat body's strings and a reply's text are
// mostly plain ASCII, which a byte loop tests one byte (a load, a table
// lookup and a branch) at a time. These tests take eight bytes in one
// word and find, with a few arithmetic operations, the first of them that
// needs a closer look.
//
// They work on each byte's low seven bits: adding 0x7f to seven bits
// carries into the byte's high bit unless they are all 0, and never out of
// the byte, so each byte is tested alone and exactly. A byte's high bit
// itself (past ASCII) is tested apart.

const (
	wordLow7 = 0x7f7f7f7f7f7f7f7f // every byte's low seven bits
	wordHigh = 0x8080808080808080 // every byte's high bit
	wordOnes = 0x0101010101010101 // a 1 in every byte
)

// loadWord is s[i:i+8] as a little-endian word; the compiler makes it one
// load. The caller knows the eight bytes are there.
func loadWord(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// notSeven sets the high bit of each byte of low (seven bits a byte) whose
// bits are not all c's.
func notSeven(low uint64, c byte) uint64 { return (low ^ wordOnes*uint64(c)) + wordLow7 }

// atLeast sets the high bit of each byte of low (seven bits a byte) that
// is at least n, for n at most 0x80.
func atLeast(low uint64, n byte) uint64 { return low + wordOnes*uint64(0x80-n) }

// firstMarked is the index in its word of the lowest byte whose high bit
// mark sets.
func firstMarked(mark uint64) int { return bits.TrailingZeros64(mark) / 8 }

// skipJSONSafe is the index of the first byte of s at or after i that
// appendJSONString does not write as itself (not jsonSafe), found eight
// bytes at a time; or that of the last bytes, fewer than eight, which it
// leaves to the caller. The byte pairs '<' and '>' and '"' and '&' differ
// in one bit each: setting it finds both of a pair with one test.
func skipJSONSafe(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		x := loadWord(s, i)
		low := x & wordLow7
		safe := atLeast(low, 0x20) &
			notSeven(low|wordOnes*0x02, '>') & // '<' or '>'
			notSeven(low|wordOnes*0x04, '&') & // '"' or '&'
			notSeven(low, '\\')
		if mark := (x | ^safe) & wordHigh; mark != 0 {
			return i + firstMarked(mark)
		}
	}
	return i
}

// skipJSONPlain is the index of the first byte of s at or after i that
// ends, escapes or breaks a JSON string (a quote, a backslash, a control
// character), found eight bytes at a time; or that of the last bytes,
// fewer than eight, which it leaves to the caller. Bytes past ASCII are
// plain.
func skipJSONPlain(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		x := loadWord(s, i)
		low := x & wordLow7
		plain := atLeast(low, 0x20) & notSeven(low, '"') & notSeven(low, '\\')
		if mark := ^(x | plain) & wordHigh; mark != 0 {
			return i + firstMarked(mark)
		}
	}
	return i
}
