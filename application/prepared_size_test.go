package application

import (
	"testing"
	"unsafe"
)

// TestPreparedTurnFitsItsSizeClass keeps a prepared turn, allocated once
// a turn, within the 704-byte size class (with the 8-byte header the
// allocator puts before an object over 512 bytes that holds pointers): a
// field more takes the next class, 768 bytes.
func TestPreparedTurnFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(PreparedTurn{}); size+8 > 704 {
		t.Errorf("PreparedTurn is %d bytes, over 696", size)
	}
}
