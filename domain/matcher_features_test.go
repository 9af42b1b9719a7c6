package domain

import (
	"math/rand/v2"
	"testing"
)

// newFeatureTable must find every feature's id and conditions, and put a
// feature past its home slot only behind features at least as common:
// what keeps a message's common features one probe away.
func TestFeatureTableCommonestNearestHome(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 100, 5000} {
		ids := map[uint64]int32{}
		conds := make([]int, n)
		for id := range conds {
			ids[r.Uint64()] = int32(id)
			conds[id] = 1 + r.IntN(40)
		}
		tb := newFeatureTable(ids, conds)
		for h, id := range ids {
			got, c, ok := tb.lookup(h)
			if !ok || got != id || int(c) != conds[id] {
				t.Fatalf("n=%d: lookup(%x) = %d, %d, %v; want %d, %d", n, h, got, c, ok, id, conds[id])
			}
		}
		if _, _, ok := tb.lookup(r.Uint64()); ok {
			t.Fatalf("n=%d: found a hash never put in", n)
		}
		mask := uint64(len(tb.slots) - 1)
		for at, s := range tb.slots {
			if s.id == 0 {
				continue
			}
			for p := tb.home(s.h); p != uint64(at); p = (p + 1) & mask {
				if before := tb.slots[p]; before.conds < s.conds || (before.conds == s.conds && before.id > s.id) {
					t.Fatalf("n=%d: id %d (%d conditions) is past id %d (%d) on its probe", n, s.id-1, s.conds, before.id-1, before.conds)
				}
			}
		}
	}
}
