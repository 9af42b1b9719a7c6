package domain

import "math/bits"

// featureTable maps the feature hashes seen in training to their dense ids:
// an open-addressing table probed linearly, each slot holding the hash
// and the id beside it. Kept at most half full, a lookup reads about two
// slots of one cache line (at a hundred Banking77 rules, 96 % of a
// message's features are found, and a third take a second probe), where
// Go's map hashed every key again and probed its groups (a tenth of a
// turn's matching).
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
func newFeatureTable(ids map[uint64]int32, conds []int) featureTable {
	size := 8
	for size < 2*len(ids) {
		size *= 2
	}
	t := featureTable{slots: make([]featureSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	mask := uint64(size - 1)
	for h, id := range ids {
		i := t.home(h)
		for t.slots[i].id != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = featureSlot{h, id + 1, int32(conds[id])}
	}
	return t
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
