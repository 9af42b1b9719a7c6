package alignment

import (
	"testing"
	"unsafe"
)

// TestDecidedFitsItsSizeClass keeps a turn's decisions, allocated once a
// turn, within the 1024-byte size class: with the 8-byte header the
// allocator puts before an object over 512 bytes that holds pointers, a
// field more takes the next class, 1152 bytes.
func TestDecidedFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(decided{}); size+8 > 1024 {
		t.Errorf("decided is %d bytes, over 1016", size)
	}
}
