package alignment

import (
	"testing"
	"unsafe"
)

// TestTurnRunFitsItsSizeClass keeps what a turn allocates once (its
// decisions, outcome and timings) within the 1792-byte size class: with
// the 8-byte header the allocator puts before an object over 512 bytes
// that holds pointers, 16 bytes more take the next class, 2048 bytes.
func TestTurnRunFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(turnRun{}); size+8 > 1792 {
		t.Errorf("turnRun is %d bytes, over 1784", size)
	}
}
