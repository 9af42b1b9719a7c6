package memory

import "unicode/utf8"

// appendEscaped appends s quoted as encoding/json quotes a string (HTML
// escaping on, as json.Marshal has it): the few escapes of a line break,
// a quote or a backslash written in place, where going through the
// encoder for a string that holds one (the context of a deferred
// explanation, a few lines of instructions and the previous reply) cost
// more than the rest of the record's strings together.
// TestEscapedIsMarshal holds it to json.Marshal.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while they need no escape, as most
		// of a context's do.
		for ; i+8 <= len(s); i += 8 {
			w, t := s[i:i+8], &escapedPlain
			if t[w[0]]&t[w[1]]&t[w[2]]&t[w[3]]&t[w[4]]&t[w[5]]&t[w[6]]&t[w[7]] == 0 {
				break
			}
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if escapedPlain[c] == 1 {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control bytes, and <, > and &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// escapedPlain marks the bytes encoding/json writes as they are: ASCII
// from the space on but for the quote, the backslash, <, > and &.
var escapedPlain = func() (plain [256]uint8) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		if c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			plain[c] = 1
		}
	}
	return plain
}()
