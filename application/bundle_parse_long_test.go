//go:build !race

// The bundle readers' long sequential tests: the JSON path against the
// YAML path over the bench's 10,000-rule agent and more, bundles of
// thousands of rules read or refused, and what parsing each allocates,
// single-threaded parsing the race detector slows ninefold (62 s under
// it, 7 s without) and has nothing to find in. They build without it;
// make test runs them in a pass without -race (scripts/test.sh). The
// readers run under -race in the package's other tests.

package application

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// The JSON path reads every JSON bundle as the YAML path does: the same
// policy, or the same error with the same details.
func TestJSONBundlesReadAsYAMLReadsThem(t *testing.T) {
	demo, err := os.ReadFile("../examples/demo-agent.yaml")
	require.NoError(t, err)
	agent := `"agent": {"id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "name": "a"}`
	small, err := domain.DefaultPolicyLimits().With(map[string]int{"rules": 3, "examples": 2, "references": 2, "steps": 2,
		"transitions": 2, "variable_values": 2, "constraints": 2})
	require.NoError(t, err)
	for _, tt := range []struct {
		name, body string
		limits     *domain.PolicyLimits
	}{
		{name: "demo agent", body: asJSON(t, string(demo))},
		{name: "flow bundle", body: asJSON(t, flowBundle)},
		{name: "10,000 bench rules", body: benchLikeBundle(10_000)},
		{name: "empty", body: `{}`},
		{name: "strings", body: `{` + agent + `, "rules": [{"id": "a\u00e9\n\"b\"", "condition": "x: [y], {z} # w", "action": "\t&a *b"}]}`},
		{name: "nulls", body: `{` + agent + `, "rules": null, "templates": [{"id": "t", "text": null, "mode": "suggest"}]}`},
		{name: "unknown fields", body: `{"zeta": 1, ` + agent[:len(agent)-1] + `, "colour": 2, "b!": 4, "b": 5, "Name": 3},
			"rules": [{"id": "a", "Colour": 1, "b": {"c": 1}}, {"id": "b", "alpha": 2}], "alpha": [1]}`},
		{name: "more unknown fields than are listed", body: `{"zz": 0, ` + agent + `, "rules": [` + manyUnknown(60) + `, ` + manyUnknown(30) +
			`, {"id": "c"}, ` + manyUnknown(20) + `], "aa": 0}`},
		{name: "wrong type", body: `{` + agent + `, "variables": [{"name": "x", "type": "number", "max": "lots"}]}`},
		{name: "wrong kind", body: `{"agent": [1], "rules": {"id": "a"}, "templates": "x"}`},
		{name: "duplicate keys", body: `{` + agent + `, "rules": [{"id": "a", "id": "b", "id": "c", "action": "x", "action": "y"}],
			"templates": [{"id": "t", "x": {"k": 1, "k": 2}}, {"id": "u", "id": "v", "x": {"k": 1, "k": 2}}]}`},
		{name: "duplicate top-level keys", body: `{` + agent + `, "rules": [{"id": "a", "id": "b"}],
			` + agent + `}`},
		{name: "a list", body: `[{"id": "a", "id": "b"}, 2]`},
		{name: "a long list", body: items(501, "{}")},
		{name: "too many rules", body: `{` + agent + `, "rules": ` + items(10_001, "{}") + `}`},
		{name: "too many examples", body: `{` + agent + `, "rules": [{"id": "a", "examples": ` + items(501, `"a"`) + `}]}`},
		{name: "the outer list first", body: `{` + agent + `, "rules": [{"examples": ` + items(501, `"a"`) + `}` +
			strings.Repeat(`, {}`, 10_000) + `]}`},
		{name: "the earlier list first", body: `{` + agent + `, "rules": [{"examples": ` + items(501, `"a"`) + `,
			"tool_ids": ` + items(501, `"a"`) + `}]}`},
		{name: "over a limit, indented", body: asJSON(t, bundleHead+"rules:\n  - id: a\n    examples: "+items(501, "a")+"\n")},
		{name: "duplicate keys, indented", body: "{\n" + agent + ",\n\n  \"rules\": [],\n \"rules\": []}"},
		{name: "too many keys", body: `{` + agent + `, "variables": [{"name": "x", "type": "amount", "initial": {` +
			strings.TrimSuffix(strings.Repeat(`"k": 0, `, 101), ", ") + `}}]}`},
		{name: "small limits", body: `{` + agent + `, "rules": [{"id": "a", "tool_ids": ["x", "y", "z"]}]}`, limits: &small},
		{name: "small limits, at them", body: `{` + agent + `, "rules": [{"id": "a", "tool_ids": ["x", "y"]}, {}, {}]}`, limits: &small},
		{name: "numbers yaml.v3 reads otherwise", body: `{` + agent + `, "rules": [{"id": "a", "priority": 1.0, "cooldown_turns": 2e1},
			{"id": "b", "priority": -0, "max_fires_per_session": 1E+1}],
			"variables": [{"name": "x", "type": "number", "min": 0.5}, {"name": "y", "type": "number", "max": 1.50}]}`},
		{name: "a number past float64", body: `{` + agent + `, "variables": [{"name": "x", "type": "number", "max": 1e400}]}`},
		{name: "a number past int64", body: `{` + agent + `, "rules": [{"id": "b", "max_fires_per_session": 12345678901234567890}]}`},
		{name: "a fraction for an int", body: `{` + agent + `, "rules": [{"id": "a", "priority": 1.5}]}`},
		{name: "not JSON", body: `{"agent": {"id": 1`},
		{name: "not JSON after all", body: `{agent: {id: a}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			limits := domain.DefaultPolicyLimits()
			if tt.limits != nil {
				limits = *tt.limits
			}
			want, wantErr := parseYAMLBundle([]byte(tt.body), limits)
			got, err, ok := parseJSONBundle([]byte(tt.body), limits)
			if strings.HasPrefix(tt.name, "not JSON") {
				assert.False(t, ok, "read as JSON")
				return
			}
			require.True(t, ok, "not read as JSON")
			if wantErr != nil {
				require.Error(t, err)
				assert.Equal(t, wantErr.Error(), err.Error())
				assert.Equal(t, wantErr, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// A YAML bundle denser than checkYAMLNodes allows is refused before
// yaml.v3 reads it, saying how to send it; the same bundle as JSON is
// read.
func TestDenseYAMLBundleIsRefusedAndItsJSONRead(t *testing.T) {
	var b strings.Builder
	b.WriteString(bundleHead + "templates: [{id: t, text: hi, mode: suggest}]\nrules:\n")
	for i := range 6_000 {
		fmt.Fprintf(&b, "  - {id: r%d, condition: c, action: x, template_ids: %s}\n", i, items(40, "t"))
	}
	dense := b.String()
	_, err := ParseBundle([]byte(dense))
	require.Error(t, err)
	assert.Equal(t, domain.CodeInvalidRequest, domain.ErrorCodeOf(err))
	assert.Contains(t, err.Error(), "bundle is too dense to read as YAML")
	assert.Contains(t, err.Error(), "send it as JSON")

	p, err := ParseBundle([]byte(asJSON(t, dense)))
	require.NoError(t, err)
	assert.Len(t, p.Rules, 6_000)
	assert.Len(t, p.Rules[0].TemplateIDs, 40)
}

// The bench's 10,000-rule agent, as YAML, is well within the node bound
// and reads as its JSON does.
func TestLargeYAMLBundleIsRead(t *testing.T) {
	asJSON := []byte(benchLikeBundle(10_000))
	want, err := ParseBundle(asJSON)
	require.NoError(t, err)
	asYAML, err := EncodeBundleYAML(want)
	require.NoError(t, err)
	t.Logf("%d bytes, %.1f a possible node", len(asYAML), float64(len(asYAML))/float64(yamlNodeBound(asYAML)))
	got, err := ParseBundle(asYAML)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// One 1 MiB anchored string aliased 10,000 times is a 1 MB document that
// would expand to 10 GB; it is refused before anything is expanded.
func TestBundleAliasBombIsRefusedCheaply(t *testing.T) {
	var b strings.Builder
	b.WriteString(bundleHead)
	fmt.Fprintf(&b, "templates:\n  - {id: big, mode: suggest, text: &big %s}\n", strings.Repeat("x", 1<<20))
	b.WriteString("rules:\n")
	for i := range 10_000 {
		fmt.Fprintf(&b, "  - {id: r%d, condition: *big, action: *big}\n", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ParseBundle([]byte(b.String()))
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<20), "parsing allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
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
