package domain

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// RuleFires counts, per rule id, how often and when each rule matched in
// a session: one array sorted by rule id. A session copies it before it
// records a fire (copy-on-write, see Session.Clone), once per turn that
// fires a rule, and a returning user's fires grow with every rule the
// conversation touches: an array is copied in one allocation of 32 bytes
// a rule, where a map cloned its whole table and hashed every key again.
// Its JSON is the object a map of rule id to RuleFire has, keys in order.
type RuleFires []RuleFireEntry

// RuleFireEntry is one rule's firing record.
type RuleFireEntry struct {
	RuleID string
	RuleFire
}

// RuleFiresOf returns the fires of m.
func RuleFiresOf(m map[string]RuleFire) RuleFires {
	if len(m) == 0 {
		return nil
	}
	out := make(RuleFires, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, RuleFireEntry{RuleID: id, RuleFire: m[id]})
	}
	return out
}

// find returns where rule id is, or would be inserted, and whether it is
// there.
func (f RuleFires) find(id string) (int, bool) {
	return slices.BinarySearchFunc(f, id, func(e RuleFireEntry, id string) int { return strings.Compare(e.RuleID, id) })
}

// Get returns rule id's record, zero when it never fired.
func (f RuleFires) Get(id string) RuleFire {
	if i, ok := f.find(id); ok {
		return f[i].RuleFire
	}
	return RuleFire{}
}

// recorded returns f with rule id's fire in turn counted: f itself,
// changed in place, when owned holds and the rule has a record; else a
// new array, f left as it was.
func (f RuleFires) recorded(id string, turn int, owned bool) RuleFires {
	i, ok := f.find(id)
	if ok {
		if !owned {
			f = slices.Clone(f)
		}
		f[i].Count++
		f[i].LastTurn = turn
		return f
	}
	out := make(RuleFires, len(f)+1)
	copy(out, f[:i])
	out[i] = RuleFireEntry{RuleID: id, RuleFire: RuleFire{Count: 1, LastTurn: turn}}
	copy(out[i+1:], f[i:])
	return out
}

// MarshalJSON writes the fires as an object keyed by rule id.
func (f RuleFires) MarshalJSON() ([]byte, error) {
	return f.appendJSON(make([]byte, 0, 2+len(f)*48)), nil
}

// appendJSON appends what MarshalJSON returns.
func (f RuleFires) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, e := range f {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, e.RuleID)
		b = append(b, `:{"count":`...)
		b = strconv.AppendInt(b, int64(e.Count), 10)
		b = append(b, `,"last_turn":`...)
		b = strconv.AppendInt(b, int64(e.LastTurn), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// plainJSON reports whether s is written in JSON as it is, between
// quotes, as encoding/json writes it: printable ASCII without the
// characters it escapes. It tests sixteen bytes at a time, with no branch
// but the loop's, and the last few bytes of a string of eight or more as
// its last eight (some read twice), where a loop of their own was a
// quarter of the time: every string of an audit record and a session's
// JSON goes through it at every commit, some eighty strings a turn.
func plainJSON(s string) bool {
	t := &plainJSONByte
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if t[s[i]] == 0 {
				return false
			}
		}
		return true
	}
	i := 0
	for ; i+16 <= len(s); i += 16 {
		b := s[i : i+16] // one bounds check
		if t[b[0]]&t[b[1]]&t[b[2]]&t[b[3]]&t[b[4]]&t[b[5]]&t[b[6]]&t[b[7]]&
			t[b[8]]&t[b[9]]&t[b[10]]&t[b[11]]&t[b[12]]&t[b[13]]&t[b[14]]&t[b[15]] == 0 {
			return false
		}
	}
	if i+8 <= len(s) {
		if !plain8(t, s[i:i+8]) {
			return false
		}
		i += 8
	}
	return i == len(s) || plain8(t, s[len(s)-8:])
}

// plain8 is plainJSON for b, eight bytes.
func plain8(t *[256]uint8, b string) bool {
	b = b[:8] // one bounds check
	return t[b[0]]&t[b[1]]&t[b[2]]&t[b[3]]&t[b[4]]&t[b[5]]&t[b[6]]&t[b[7]] != 0
}

// plainJSONByte marks the bytes plainJSON lets through: a table, since
// every rule id of a session goes through it at every commit.
var plainJSONByte = func() (plain [256]uint8) {
	for c := 0x20; c < 0x7f; c++ {
		if c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			plain[c] = 1
		}
	}
	return plain
}()

// UnmarshalJSON reads the object MarshalJSON writes (null: no fires).
func (f *RuleFires) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*f = nil
		return nil
	}
	var m map[string]RuleFire
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*f = RuleFiresOf(m)
	return nil
}
