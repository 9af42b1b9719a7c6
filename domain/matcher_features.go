package domain

import "math/bits"

// featureTable maps the feature hashes seen in training to their dense ids:
// an open-addressing table probed linearly, each slot holding the hash
// and the id beside it. Kept at most half full, a lookup reads one slot
// (at a hundred Banking77 rules, 96 % of a message's features are found,
// and with the commonest put in first, see newFeatureTable, 3 % take a
// second probe), where Go's map hashed every key again and probed its
// groups (a tenth of a turn's matching).
type featureTable struct {
	slots []featureSlot
	shift uint // 64 − log2(len(slots))
}

// featureSlot is one hash and its id plus one (0: empty), and how many
// conditions have the feature, which weighs it: in the room the id leaves
// in the slot, it spares a message's vector a read of the feature's
// weight from a table as large as the vocabulary.
type featureSlot struct {
	h     uint64
	id    int32
	conds int32
}

// newFeatureTable holds ids[h] for every entry, with conds[ids[h]].
//
// The features are put in the table commonest first: the most conditions
// first, then in order of id, which is the order training first saw
// them. Which of two features whose probes meet gets the nearer slot is
// the order they are put in; a message's features are mostly the common
// ones, so these take their home slot and the rare ones the second. Of
// the Banking77 test messages' lookups at a hundred rules, put in as Go's
// map ranges (at random), 18 % read a second slot and 7 % a second cache
// line; put in commonest first, 3.4 % and 1 %. The probe's loop then
// nearly always leaves after one slot, which the CPU predicts, where
// before it mispredicted a lookup in five, each waiting on the slot's
// read from memory. The table is also laid out the same by every
// compile, where the map's order made it differ.
func newFeatureTable(ids map[uint64]int32, conds []int) featureTable {
	size := 8
	for size < 2*len(ids) {
		size *= 2
	}
	t := featureTable{slots: make([]featureSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	mask := uint64(size - 1)
	hashOf := make([]uint64, len(conds))
	for h, id := range ids {
		hashOf[id] = h
	}
	for _, id := range commonestFirst(conds) {
		h := hashOf[id]
		i := t.home(h)
		for t.slots[i].id != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = featureSlot{h, id + 1, int32(conds[id])}
	}
	return t
}

// commonestFirst is the ids 0..len(conds)-1 by conds descending, then
// ascending: a counting sort, as conds are at most the number of
// conditions.
func commonestFirst(conds []int) []int32 {
	most := 0
	for _, n := range conds {
		most = max(most, n)
	}
	start := make([]int, most+2) // start[most-n+1]: where those of n conditions start, once summed
	for _, n := range conds {
		start[most-n+1]++
	}
	for k := 1; k < len(start); k++ {
		start[k] += start[k-1]
	}
	order := make([]int32, len(conds))
	for id, n := range conds {
		order[start[most-n]] = int32(id)
		start[most-n]++
	}
	return order
}

// home is where h's probe starts: its hash mixed by Fibonacci hashing, so
// that hashes differing only in their high bits spread too. The shift is
// masked to what it is anyway, below 64, which spares each lookup the
// instructions making a shift of 64 or more give 0.
func (t *featureTable) home(h uint64) uint64 { return (h * featureMix) >> (t.shift & 63) }

// featureMix is home's Fibonacci hashing multiplier, 2⁶⁴ over the golden
// ratio.
const featureMix = 0x9e3779b97f4a7c15

// lookup is h's id and how many conditions have it, and whether training
// saw h. weighRuns has its probe written out, for its loop's registers.
func (t *featureTable) lookup(h uint64) (id, conds int32, ok bool) {
	mask := uint64(len(t.slots) - 1)
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.id == 0 {
			return 0, 0, false
		}
		if s.h == h {
			return s.id - 1, s.conds, true
		}
	}
}
