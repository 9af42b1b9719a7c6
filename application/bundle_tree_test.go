package application

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// items is a flow list of n copies of item.
func items(n int, item string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(item+", ", n), ", ") + "]"
}

// initialOf is a bundle whose one variable's initial value is a mapping of
// n keys: the only place a bundle may hold a mapping of its own choosing.
func initialOf(n int) string {
	var b strings.Builder
	b.WriteString(bundleHead + "variables:\n  - name: x\n    type: amount\n    initial: {")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "k%d: 0", i)
	}
	b.WriteString("}\n")
	return b.String()
}

func TestBundleTreeOverTheLimitsIsRefusedWithWhatAndWhere(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	for _, tt := range []struct{ name, yaml, want string }{
		{"mapping", initialOf(MaxBundleMappingKeys + 1),
			"bundle has a mapping of 101 keys at line 5; no bundle mapping has more than 100"},
		{"rules", bundleHead + "rules: " + items(limits.Rules+1, "{}") + "\n",
			"rules must hold at most 10000 items, not 10001 (policy limit rules), at line 2"},
		{"tools", bundleHead + "templates: []\ntools:\n" + strings.Repeat("  - {}\n", limits.Tools+1),
			"tools must hold at most 50 items, not 51 (policy limit tools), at line 4"},
		{"examples", bundleHead + "rules:\n  - id: a\n    examples: " + items(limits.Examples+1, "a") + "\n",
			"bundle has a list of 501 items at line 4; no list below the top level may have more than 500 (the largest per-list policy limit)"},
		{"a list as the bundle", items(501, "{}"),
			"bundle has a list of 501 items at line 1; no list below the top level may have more than 500"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBundle([]byte(tt.yaml))
			require.Error(t, err)
			assert.Equal(t, domain.CodeInvalidRequest, domain.ErrorCodeOf(err))
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestBundleTreeAtTheLimitsIsRead(t *testing.T) {
	// An amount's initial value of exactly the key cap gets past the tree
	// to the variable's own check, which wants at most two keys.
	_, err := ParseBundle([]byte(initialOf(MaxBundleMappingKeys)))
	require.NoError(t, err)

	limits := domain.DefaultPolicyLimits()
	p, err := ParseBundle([]byte(bundleHead + "rules:\n  - id: a\n    condition: c\n    action: x\n    examples: " +
		items(limits.Examples, "a") + "\n"))
	require.NoError(t, err)
	assert.Len(t, p.Rules[0].Examples, limits.Examples)

	// Configured limits move the caps: here three rules and two ids per list.
	small, err := limits.With(map[string]int{"rules": 3, "examples": 2, "references": 2, "steps": 2, "transitions": 2,
		"variable_values": 2, "constraints": 2})
	require.NoError(t, err)
	p, err = ParseBundleWithin([]byte(bundleHead+"rules: [{id: a, tool_ids: [x, y]}, {id: b}, {id: c}]\n"), small)
	require.NoError(t, err)
	assert.Len(t, p.Rules, 3)
	_, err = ParseBundleWithin([]byte(bundleHead+"rules: [{id: a}, {id: b}, {id: c}, {id: d}]\n"), small)
	assert.ErrorContains(t, err, "rules must hold at most 3 items, not 4 (policy limit rules), at line 2")
	_, err = ParseBundleWithin([]byte(bundleHead+"rules: [{id: a, tool_ids: [x, y, z]}]\n"), small)
	assert.ErrorContains(t, err, "bundle has a list of 3 items at line 2; no list below the top level may have more than 2")

	// Raised limits let more through than the defaults would.
	large, err := limits.With(map[string]int{"examples": 600})
	require.NoError(t, err)
	_, err = ParseBundleWithin([]byte(bundleHead+"rules:\n  - id: a\n    examples: "+items(600, "a")+"\n"), large)
	require.NoError(t, err)
}

// The key cap holds no bundle type back: each has far fewer fields.
func TestBundleMappingCapIsAboveEveryBundleType(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		if n := len(jsonFields(typ)); n*4 > MaxBundleMappingKeys {
			t.Errorf("%s has %d fields, over a quarter of the key cap %d", typ, n, MaxBundleMappingKeys)
		}
		for i := range typ.NumField() {
			walk(typ.Field(i).Type)
		}
	}
	walk(reflect.TypeFor[domain.Policy]())
	assert.Contains(t, seen, reflect.TypeFor[domain.AgentSettings]())
}

// What parsing one of worstBundleShapes may allocate: a JSON body
// maxJSONAllocPerByte times its size (measured: at most 3.7, a list of
// objects of unknown keys, 8.2 under the race detector); a YAML body maxYAMLAllocPerNode bytes for each
// node yamlNodeBound says it may hold (measured: 236 at 512 KiB and 297 at
// 4 MiB, a flow mapping of keys without values, two nodes a comma: its
// list of nodes grows with it). Before the JSON path and the node bound,
// a 4 MiB body of one-letter examples allocated 125 times its size as
// YAML, 59 times as JSON.
const (
	maxJSONAllocPerByte = 10
	maxYAMLAllocPerNode = 360
)

// TestBundleParsingAllocatesABoundedMultipleOfTheBody parses the worst
// shapes of BenchmarkParseBundleShapes at 512 KiB and bounds what each
// allocates; each is refused. A YAML body may hold yamlNodesAllowed nodes,
// so no YAML body of the 4 MiB default bundle limit allocates more than 36
// times its size.
func TestBundleParsingAllocatesABoundedMultipleOfTheBody(t *testing.T) {
	const size = 512 << 10
	for _, s := range worstBundleShapes(size) {
		body := s.body(size)
		t.Run(s.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := ParseBundle(body)
			runtime.ReadMemStats(&after)
			assert.Equal(t, domain.CodeInvalidRequest, domain.ErrorCodeOf(err), "%v", err)
			allocated := float64(after.TotalAlloc - before.TotalAlloc)
			if strings.HasPrefix(s.name, "json") {
				t.Logf("%.1fx the body", allocated/float64(len(body)))
				assert.Less(t, allocated/float64(len(body)), float64(maxJSONAllocPerByte))
				return
			}
			perNode := allocated / float64(yamlNodeBound(body))
			t.Logf("%.0f bytes a possible node, %.1fx the body", perNode, allocated/float64(len(body)))
			assert.Less(t, perNode, float64(maxYAMLAllocPerNode))
		})
	}
	const limit = 4 << 20
	assert.LessOrEqual(t, maxYAMLAllocPerNode*yamlNodesAllowed(limit)/limit, 36)
}

// maxYAMLReadAllocPerNode bounds every shape's max below: what reading
// a YAML bundle allocates for each possible node, whichever way it is
// read, so that no YAML body of the 4 MiB default bundle limit allocates
// more than 56 times its size to be read (docs/operations.md). The
// costliest is yaml.v3's own decoding, for a merge key (measured: 499,
// 519 under the race detector).
const maxYAMLReadAllocPerNode = 560

// A YAML bundle that is read allocates no more for each possible node
// than each shape's max, half as much again as measured: decoding the node
// tree once (walkYAMLTree) into lists made to size (sizedPolicy). Before,
// by way of yaml.v3's decoding, json.Marshal and a path formatted for
// every item, each shape allocated more than its max: 466, 845, 1,104 and
// 289 bytes a node, a typed rule costing less than the maps, the list and
// the paths that led to it. A tag or a merge key still sends the tree to
// yaml.v3's decoding (decodeYAMLTree), which keeps only the paths it
// reports too: 511 and 765 bytes a node before; a merge key's max is
// maxYAMLReadAllocPerNode, not half as much again.
func TestReadingAYAMLBundleAllocatesABoundedAmountPerNode(t *testing.T) {
	bench, err := ParseBundle([]byte(benchLikeBundle(2_000)))
	require.NoError(t, err)
	benchYAML, err := EncodeBundleYAML(bench)
	require.NoError(t, err)
	for _, tt := range []struct {
		name, body string
		max        float64 // bytes a possible node; measured: 279, 218, 361, 154, 241, 496 (at most 6 % more under -race)
	}{
		{"2,000 bench rules", string(benchYAML), 420},
		{"10,000 empty rules", bundleHead + "rules: " + items(10_000, "{}") + "\n", 330},
		{"10,000 rules of an id", bundleHead + "rules:\n" + strings.Repeat("  - id: a\n", 10_000), 540},
		{"6,000 rules of every kind of field", bundleHead + "rules:\n" + strings.Repeat("  - {id: a, condition: c, action: x, "+
			"priority: 1, enabled: true, hard: false, tool_ids: [a], template_ids: [b], cooldown_turns: 1}\n", 6_000), 230},
		{"10,000 empty rules, a tag", strings.Replace(bundleHead, "name:", "name: !!str", 1) + "rules: " + items(10_000, "{}") + "\n", 360},
		{"10,000 rules of an id, one merged", bundleHead + "rules:\n" + strings.Repeat("  - id: a\n", 9_999) + "  - {<<: {id: b}}\n", maxYAMLReadAllocPerNode},
	} {
		require.LessOrEqual(t, tt.max, float64(maxYAMLReadAllocPerNode), tt.name)
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := ParseBundle([]byte(tt.body))
			runtime.ReadMemStats(&after)
			require.NoError(t, err)
			allocated := float64(after.TotalAlloc - before.TotalAlloc)
			perNode := allocated / float64(yamlNodeBound([]byte(tt.body)))
			t.Logf("%.0f bytes a possible node, %.1fx the body", perNode, allocated/float64(len(tt.body)))
			assert.Less(t, perNode, tt.max)
		})
	}
	const limit = 4 << 20
	assert.LessOrEqual(t, maxYAMLReadAllocPerNode*yamlNodesAllowed(limit), 56*limit)
}
