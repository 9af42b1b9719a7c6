package memory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
)

// A session grows as its user goes on (rule fires, variables, visits), and
// every kept turn holds the session as it was after that turn: kept whole,
// a growing session would be paid for once per kept turn. So a kept turn
// whose newer neighbour holds its SessionAfter keeps its own as a delta
// against the neighbour's JSON: what it copies of it and what it adds, a
// few dozen bytes for a turn that changed a few counters. Reading it
// rebuilds the JSON byte for byte from the nearest whole one, newer.
//
// A delta is uvarint(len(target)) then ops, each uvarint(n<<1|1) and n
// literal bytes, or uvarint(n<<1) and the zigzag varint of where the n
// bytes to copy start in the base, counted from where the last copy
// ended.

// Delta matching: every deltaStride-th base position is indexed by the
// hash of the deltaMinMatch bytes there. Most of an older session's JSON
// continues where the last copy left off (a counter or a time changed in
// place): a match there of deltaLongEnough bytes, or one a few bytes on,
// is taken as it is. Else, since the JSON repeats its structure
// (`},"rule-`, `{"scenario_id":"`), whose last occurrence the index
// holds, a copy starts at the candidate that reaches furthest into the
// target, among the one continuing where the last copy left off (taken
// from deltaMinAligned bytes) and those the index gives for deltaProbes
// positions on, each extended back over the pending literal. Before the
// index, past a short copy from elsewhere, the copy resumes past the
// digits on the diagonal of the last long copy when it can (nearby).
const (
	deltaMinMatch   = 8
	deltaMinAligned = 4
	deltaLongEnough = 32
	deltaStride     = 4
	deltaProbes     = 32
	deltaReach      = 128
	deltaMaxBits    = 12
	deltaShiftReach = 256
	deltaShiftTries = 4
)

var errBadDelta = errors.New("a kept session delta does not apply")

// appendDelta appends to dst the delta that rebuilds target from base.
// index is scratch space for the base's hash table.
func appendDelta(dst, base, target []byte, index *[1 << deltaMaxBits]int32) []byte {
	return appendDeltaMeasuring(dst, base, target, index, false, false)
}

// appendDeltaMeasuring is appendDelta, indexing the base up front and
// measuring every probe when everyProbe is set (see deltaMatcher.index
// and reachesPast): the reference the tests hold appendDelta to; and
// looking for every match by the index when indexOnly is set, as
// appendDelta did before shifted: the reference its deltas' size is held
// to.
func appendDeltaMeasuring(dst, base, target []byte, index *[1 << deltaMaxBits]int32, everyProbe, indexOnly bool) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(target)))
	tableBits := min(max(bits.Len(uint(len(base)/deltaStride)), 4), deltaMaxBits)
	d := deltaMatcher{base: base, target: target, table: index[:1<<tableBits], shift: 64 - tableBits, everyProbe: everyProbe,
		indexOnly: indexOnly}
	if everyProbe {
		d.index()
	}
	lit, t, expect := 0, 0, 0
	for t+deltaMinMatch <= len(target) {
		m := d.next(lit, t, expect)
		if m.n == 0 {
			t++
			continue
		}
		dst = appendLiteral(dst, target[lit:m.start])
		dst = binary.AppendUvarint(dst, uint64(m.n)<<1)
		dst = binary.AppendVarint(dst, int64(m.from-expect))
		t = m.start + m.n
		lit, expect = t, m.from+m.n
		if m.n >= deltaLongEnough {
			d.home = m.from - m.start
		}
	}
	return appendLiteral(dst, target[lit:])
}

// deltaMatcher finds where the target's runs lie in the base.
type deltaMatcher struct {
	base, target []byte
	table        []int32 // base position + 1 by deltaHash, once indexed
	shift        int
	indexed      bool
	everyProbe   bool // measure the probes reachesPast rules out
	indexOnly    bool // find no match by shifted, and look near the end
	// ahead is the match furthest reaching from the literal run starting
	// at aheadOf, once looked for.
	ahead   deltaMatch
	aheadOf int
	// home is the diagonal (base - target position) of the last copy of
	// deltaLongEnough bytes or more.
	home int
}

// next returns the copy to make at t, or none (n 0): the target's pending
// literal starts at lit, and the last copy ended at expect in the base.
func (d *deltaMatcher) next(lit, t, expect int) deltaMatch {
	m := startingAt(d.base, d.target, t, expect+t-lit, deltaMinAligned)
	if m.n >= deltaLongEnough {
		return m
	}
	if d.aheadOf != lit+1 || d.ahead.n > 0 && d.ahead.start < t {
		d.ahead, d.aheadOf = d.resumed(t, expect+t-lit), lit+1
		if d.ahead.n == 0 && !d.indexOnly {
			d.ahead = d.nearby(t, expect+t-lit)
		}
		if d.ahead.n == 0 && !d.indexOnly {
			d.ahead = d.shifted(lit, t, expect+t-lit)
		}
		// What shifted copied may be a neighbouring entry's bytes that
		// run only as far as its numbers agree, taken where a rule fired
		// again (its count and last turn changed a few bytes apart):
		// past the numbers, the session goes on on the diagonal of the
		// last long copy, found there without indexing the base.
		if d.ahead.n == 0 && !d.indexOnly && d.home != expect-lit {
			d.ahead = d.nearby(t, t+d.home)
		}
		// Fewer than deltaLongEnough bytes from the end (the session's
		// last time, changed), a match elsewhere would save a few bytes
		// at most: not worth indexing the base for.
		if d.ahead.n == 0 && (d.indexOnly || len(d.target)-t >= deltaLongEnough) {
			d.ahead = d.furthest(lit, t)
		}
	}
	ahead := d.ahead
	switch {
	case ahead.n == 0:
	case ahead.start <= t:
		if ahead.end() > m.end() {
			// Measured up to deltaReach bytes only.
			from := ahead.from + t - ahead.start
			m = deltaMatch{t, from, commonPrefix(d.base[from:], d.target[t:])}
		}
	default:
		// The match reaching furthest starts ahead: the bytes before it
		// may match on its diagonal, or where the last copy left off,
		// unless that runs into it.
		if m.n > 0 && m.end() > ahead.start {
			m = deltaMatch{}
		}
		if c := startingAt(d.base, d.target, t, ahead.from-ahead.start+t, deltaMinAligned); c.n > m.n {
			m = c
		}
	}
	return m
}

// resumed returns the match of deltaLongEnough bytes that the next few
// bytes after t start on the diagonal through t and from, if any: what
// follows bytes changed in place, the commonest change.
// (measured up to that length only).
func (d *deltaMatcher) resumed(t, from int) deltaMatch {
	for j := 1; j <= deltaMinMatch && t+j+deltaLongEnough <= len(d.target); j++ {
		// Most starts are ruled out on their first 8 bytes, compared at
		// once; the rest by the runtime's equality, the match being all
		// deltaLongEnough bytes or none.
		at := from + j
		if at+deltaLongEnough > len(d.base) || binary.LittleEndian.Uint64(d.base[at:]) != binary.LittleEndian.Uint64(d.target[t+j:]) {
			continue
		}
		if string(d.base[at:at+deltaLongEnough]) == string(d.target[t+j:t+j+deltaLongEnough]) {
			return deltaMatch{t + j, at, deltaLongEnough}
		}
	}
	return deltaMatch{}
}

// nearby returns the match of deltaLongEnough bytes that starts past the
// digits at t in the target and at from in the base, if any: what follows
// a number that gained or lost a digit (a count reaching 10), or changed
// in more digits than resumed looks past (a time's nanoseconds), the next
// commonest change after those in place. One comparison, no more.
func (d *deltaMatcher) nearby(t, from int) deltaMatch {
	at, to := pastDigits(d.target, t), pastDigits(d.base, from)
	if at == t && to == from || at+deltaLongEnough > len(d.target) {
		return deltaMatch{}
	}
	return startingAt(d.base, d.target[:at+deltaLongEnough], at, to, deltaLongEnough)
}

// pastDigits returns where the run of decimal digits at i in b ends.
func pastDigits(b []byte, i int) int {
	for i >= 0 && i < len(b) && b[i]-'0' < 10 {
		i++
	}
	return i
}

// shifted returns the match of the deltaMinMatch bytes at t that the
// base holds a little after from, where the last copy left off, if any:
// extended back as far as lit and measured forward up to deltaReach
// bytes, the one reaching furthest of the first deltaShiftTries found.
// It finds what follows bytes the newer session inserted (a rule fire, a
// step visit), the commonest change after those in place, without
// indexing the base.
func (d *deltaMatcher) shifted(lit, t, from int) deltaMatch {
	var best deltaMatch
	needle := d.target[t : t+deltaMinMatch]
	end := min(len(d.target), t+deltaReach)
	lo, hi := from+1, min(len(d.base), from+1+deltaShiftReach)
	for range deltaShiftTries {
		if lo >= hi {
			break
		}
		p := bytes.Index(d.base[lo:hi], needle)
		if p < 0 {
			break
		}
		if c := reachBack(d.base, d.target[:end], lit, t, lo+p); c.end() > best.end() {
			best = c
		}
		lo += p + 1
	}
	return best
}

// furthest returns, among the matches the index gives for the
// deltaProbes positions from t on, each extended back as far as lit and
// measured forward up to deltaReach bytes, the one that reaches furthest
// into the target.
func (d *deltaMatcher) furthest(lit, t int) deltaMatch {
	if !d.indexed {
		d.index()
	}
	var best deltaMatch
	tried := -1 << 62 // the diagonal (base - target position) tried last
	mask := uint64(len(d.table) - 1)
	for k := t; k < t+deltaProbes && k+deltaMinMatch <= len(d.target); k++ {
		from := int(d.table[deltaHash(d.target[k:k+deltaMinMatch], d.shift)&mask]) - 1
		if from < 0 || from-k == tried || best.n > 0 && from-k == best.from-best.start {
			continue // a run already measured
		}
		tried = from - k
		end := min(len(d.target), k+deltaReach)
		if best.n > 0 && !d.everyProbe && !d.reachesPast(k, from, best.end(), end) {
			continue // cannot reach further than best: not measured
		}
		if c := reachBack(d.base, d.target[:end], lit, k, from); c.end() > best.end() {
			best = c
		}
	}
	return best
}

// reachesPast reports whether the match of the target at t with the base
// at from, measured up to end, may end after past: whether the byte at
// past is in range and matches on that diagonal. A match that ends after
// past holds every byte from t to past (t <= past, as the probes lie
// within the literal that best, ending at past, reaches over), so one
// comparison rules out most probes, which the JSON's repeated structure
// makes match for a while on another diagonal, without measuring them
// (furthest's choice stays the same: such a probe never replaced best).
func (d *deltaMatcher) reachesPast(t, from, past, end int) bool {
	if past < t {
		return true // not covered by the argument: measure it
	}
	at := from + past - t
	return past < end && at < len(d.base) && d.base[at] == d.target[past]
}

// index fills the table with the base's positions. furthest alone reads
// it, and only where the target does not go on as the base does (a rule
// fire the older session lacks), so a delta of changes in place (counters
// and times) makes none.
func (d *deltaMatcher) index() {
	clear(d.table) // 0: no position; else position + 1
	mask := uint64(len(d.table) - 1)
	for p := 0; p+deltaMinMatch <= len(d.base); p += deltaStride {
		d.table[deltaHash(d.base[p:p+deltaMinMatch], d.shift)&mask] = int32(p + 1)
	}
	d.indexed = true
}

// deltaMatch is a run of n bytes at start in the target and from in the
// base.
type deltaMatch struct{ start, from, n int }

func (m deltaMatch) end() int { return m.start + m.n }

// startingAt returns the match of target at t with base at from when
// they have at least least bytes in common.
func startingAt(base, target []byte, t, from, least int) deltaMatch {
	if from < 0 || from >= len(base) {
		return deltaMatch{}
	}
	if n := commonPrefix(base[from:], target[t:]); n >= least {
		return deltaMatch{t, from, n}
	}
	return deltaMatch{}
}

// reachBack returns the match of target at t with base at from (none
// when from < 0 or they have fewer than deltaMinMatch bytes in common),
// extended back as far as target's pending literal, which starts at lit.
func reachBack(base, target []byte, lit, t, from int) deltaMatch {
	m := startingAt(base, target, t, from, deltaMinMatch)
	for m.n > 0 && m.start > lit && m.from > 0 && base[m.from-1] == target[m.start-1] {
		m.start, m.from, m.n = m.start-1, m.from-1, m.n+1
	}
	return m
}

func appendLiteral(dst, lit []byte) []byte {
	if len(lit) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(len(lit))<<1|1)
	return append(dst, lit...)
}

// deltaHash hashes the deltaMinMatch bytes at the start of b into a table
// of 64-shift bits.
func deltaHash(b []byte, shift int) uint64 {
	return binary.LittleEndian.Uint64(b) * 0x9E3779B97F4A7C15 >> shift
}

// commonPrefix is how many bytes a and b have in common from their start.
// Past the first 8 bytes it compares whole blocks of commonBlock bytes
// with the runtime's vectorized equality while they match: most of a
// session's JSON runs the same in the two, hundreds of bytes at a time.
func commonPrefix(a, b []byte) int {
	n, m := 0, min(len(a), len(b))
	if m >= 8 {
		if x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b); x != 0 {
			return bits.TrailingZeros64(x) / 8
		}
		n = 8
		for n+commonBlock <= m && string(a[n:n+commonBlock]) == string(b[n:n+commonBlock]) {
			n += commonBlock
		}
	}
	for m-n >= 8 {
		if x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:]); x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
		n += 8
	}
	for n < m && a[n] == b[n] {
		n++
	}
	return n
}

// commonBlock is how many bytes commonPrefix compares at a time.
const commonBlock = 64

// applyDelta appends to dst[:0] what delta, made by appendDelta, rebuilds
// from base.
func applyDelta(dst, base []byte, delta string) ([]byte, error) {
	size, i := stringUvarint(delta, 0)
	if i < 0 {
		return nil, errBadDelta
	}
	dst = slices.Grow(dst[:0], int(min(size, uint64(len(base)+len(delta)))))
	expect := 0
	for i < len(delta) {
		var op uint64
		if op, i = stringUvarint(delta, i); i < 0 {
			return nil, errBadDelta
		}
		n := int(op >> 1)
		if op&1 == 1 {
			if n > len(delta)-i {
				return nil, errBadDelta
			}
			dst = append(dst, delta[i:i+n]...)
			i += n
			continue
		}
		var zz uint64
		if zz, i = stringUvarint(delta, i); i < 0 {
			return nil, errBadDelta
		}
		from := expect + int(int64(zz>>1)^-int64(zz&1))
		if from < 0 || n > len(base)-from {
			return nil, errBadDelta
		}
		dst = append(dst, base[from:from+n]...)
		expect = from + n
	}
	if uint64(len(dst)) != size {
		return nil, errBadDelta
	}
	return dst, nil
}

// stringUvarint reads the uvarint at s[i:], returning it and the index
// after it, or -1 when s holds none there.
func stringUvarint(s string, i int) (uint64, int) {
	var v uint64
	for shift := 0; shift < 64 && i < len(s); shift += 7 {
		b := s[i]
		i++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, i
		}
	}
	return 0, -1
}
