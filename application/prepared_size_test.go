package application

import (
	"testing"
	"unsafe"
)

// TestPreparedTurnFitsItsSizeClass keeps a prepared turn, allocated once
// a turn with its record and result in it, within the 1536-byte size
// class (with the 8-byte header the allocator puts before an object over
// 512 bytes that holds pointers). It fitted the 1408-byte class until the
// record's scenario decision listed the steps a move passed
// (domain.ScenarioDecision.Passed): 128 bytes more to clear a turn.
func TestPreparedTurnFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(PreparedTurn{}); size+8 > 1536 {
		t.Errorf("PreparedTurn is %d bytes, over 1528", size)
	}
}
