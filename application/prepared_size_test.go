package application

import (
	"testing"
	"unsafe"
)

// TestPreparedTurnFitsItsSizeClass keeps a prepared turn, allocated once
// a turn with its record and result in it, within the 1408-byte size
// class (with the 8-byte header the allocator puts before an object over
// 512 bytes that holds pointers): 24 bytes more take the next class, 1536
// bytes.
func TestPreparedTurnFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(PreparedTurn{}); size+8 > 1408 {
		t.Errorf("PreparedTurn is %d bytes, over 1400", size)
	}
}
