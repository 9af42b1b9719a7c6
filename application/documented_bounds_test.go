package application

import "testing"

// docs/operations.md's memory bounds table: cached policies, 4,096 agents
// and 64 MiB of policy text; api.md: a replay takes at most 100 sessions
// (TestReplayStopsAtMaxTurnsAndSaysSo pins its turns).
func TestOperationsDocStatesThePolicyCache(t *testing.T) {
	if policyCacheSize != 4096 || policyCacheBytes != 64<<20 {
		t.Errorf("policy cache %d agents, %d bytes; operations.md says 4,096 and 64 MiB", policyCacheSize, policyCacheBytes)
	}
	if MaxReplaySessions != 100 {
		t.Errorf("a replay takes %d sessions; api.md says 100", MaxReplaySessions)
	}
}
