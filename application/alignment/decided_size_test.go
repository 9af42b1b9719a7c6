package alignment

import (
	"testing"
	"unsafe"
)

// TestTurnRunFitsItsSizeClass keeps what a turn allocates once (its
// decisions, outcome and timings) within the 2048-byte size class, with
// the 8-byte header the allocator puts before an object over 512 bytes
// that holds pointers. It fitted the 1792-byte class until the scenario
// decision, which a turn holds twice, recorded the steps a move passed
// (domain.ScenarioDecision.Passed): 256 bytes more to clear a turn, a few
// nanoseconds, where keeping the class would have taken moving part of
// the decision behind a pointer every reader must check.
func TestTurnRunFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(turnRun{}); size+8 > 2048 {
		t.Errorf("turnRun is %d bytes, over 2040", size)
	}
}
