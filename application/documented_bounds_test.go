package application

import (
	"testing"

	"focal/domain"
)

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

// docs/agent-bundle.md: before a bundle is read, a mapping of more than
// 100 keys and, at the default limits, a list below the top level of more
// than 500 items are refused.
func TestAgentBundleDocStatesTheTreeCaps(t *testing.T) {
	if MaxBundleMappingKeys != 100 {
		t.Errorf("a bundle mapping may have %d keys; agent-bundle.md says 100", MaxBundleMappingKeys)
	}
	if n := longestItemList(domain.DefaultPolicyLimits()); n != 500 {
		t.Errorf("a list below a bundle's top level may have %d items; agent-bundle.md says 500", n)
	}
}
