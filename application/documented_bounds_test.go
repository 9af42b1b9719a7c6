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

// docs/agent-bundle.md: a YAML bundle may hold 262,144 possible nodes, or
// one per 10 bytes; an error lists 100 unknown fields. operations.md's
// allocation bounds are TestBundleParsingAllocatesABoundedMultipleOfTheBody's.
func TestAgentBundleDocStatesTheYAMLNodeBound(t *testing.T) {
	if minYAMLNodes != 262_144 || yamlBytesPerNode != 10 {
		t.Errorf("a YAML bundle may hold %d nodes or one per %d bytes; agent-bundle.md says 262,144 or one per 10", minYAMLNodes, yamlBytesPerNode)
	}
	if maxUnknownFields != 100 {
		t.Errorf("an error lists %d unknown fields; agent-bundle.md says 100", maxUnknownFields)
	}
}
