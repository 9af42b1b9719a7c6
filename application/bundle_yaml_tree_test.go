package application

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// parseYAMLBundleByDecoding is parseYAMLBundle by way of yaml.v3's own
// decoding alone, as every YAML bundle was read before walkYAMLTree.
func parseYAMLBundleByDecoding(data []byte, limits domain.PolicyLimits) (*domain.Policy, error) {
	root, err := readYAMLTree(data, limits)
	if err != nil {
		return nil, err
	}
	return decodeYAMLTree(root)
}

// assertWalkReadsAsDecoding checks that data reads to the same policy, or
// the same error, with and without walkYAMLTree, and returns whether the
// walk read it.
func assertWalkReadsAsDecoding(t *testing.T, data []byte, limits domain.PolicyLimits) (walked bool) {
	t.Helper()
	want, wantErr := parseYAMLBundleByDecoding(data, limits)
	got, err := parseYAMLBundle(data, limits)
	if wantErr != nil {
		require.Error(t, err, "yaml.v3's decoding refused it: %v", wantErr)
		assert.Equal(t, wantErr, err)
	} else {
		require.NoError(t, err, "yaml.v3's decoding read it")
		assert.Equal(t, want, got)
	}
	if root, err := readYAMLTree(data, limits); err == nil {
		_, walked = walkYAMLTree(root, len(data))
	}
	return walked
}

// walkCase is a bundle and whether walkYAMLTree reads it, or leaves it
// to yaml.v3's decoding.
type walkCase struct {
	name, yaml string
	walked     bool
}

// walkCases are bundles that a walk of the tree could read otherwise than
// yaml.v3's decoding: every kind of scalar, key and error.
var walkCases = []walkCase{
	{"flow bundle", flowBundle, true},
	{"bench rules", benchLikeBundle(3), true},
	{"scalars", bundleHead + `rules:
  - {id: "a<b>&c", condition: 'it''s "quoted"', action: "tab\there\nand \u2028 \xe9 \U0001F600 \\", priority: -7, cooldown_turns: 0}
  - id: b
    condition: ü
    action: |
      two
      lines
    priority: 0x1F
    max_fires_per_session: 1_000
  - {id: c, condition: 2001-12-14, action: yes, priority: +3, cooldown_turns: 012}
variables:
  - {name: x, type: number, min: 0.5, max: 1e3}
  - {name: y, type: number, min: -0, max: 12345678901234567890}
  - {name: z, type: flag, initial: True}
  - {name: u, type: flag, initial: FALSE}
  - {name: w, type: text, initial: ~}
  - {name: v, type: amount, initial: {amount: 1.50, currency: EUR}}
`, true},
	{"nulls and empties", bundleHead + "rules:\nscenarios: []\ntemplates: [{id: t, text: , mode: suggest}]\ntools: ~\n", true},
	{"an empty mapping for a list", bundleHead + "tools: {}\n", true},
	{"unknown fields", `agent: {id: 6ba7b810-9dad-11d1-80b4-00c04fd430c8, name: a, settings: {history_turns: 1, colour: 2}}
zeta: 1
rules: [{id: a, Colour: 1, b: {c: 1}, "": 2, "x.y": 3}, {id: b, alpha: [{d: 1}]}]
"": {q: 1}
alpha: [1]
`, true},
	{"more unknown fields than are listed", bundleHead + "rules:\n" + strings.Repeat("  - {id: a, u1: 1, u2: 2, u3: 3, u4: 4, u5: 5, u6: 6, u7: 7}\n", 20), true},
	{"wrong type", bundleHead + "variables: [{name: x, type: number, max: lots}]\nrules: [{id: a, priority: 1.5}]\n", true},
	{"wrong kind", "agent: [1]\nrules: {id: a}\ntemplates: x\n", true},
	{"a number past float64", bundleHead + "variables: [{name: x, type: number, max: 1e400}]\n", true},
	{"infinity", bundleHead + "variables: [{name: x, type: number, max: .inf}]\nzz: 1\n", false},
	{"infinity under an unknown key", bundleHead + "zz: [.nan]\n", false},
	{"duplicate keys", bundleHead + "rules: [{id: a, id: b, action: x, action: y}]\nzz: {k: 1, k: 2}\n", false},
	{"duplicate keys below an unknown field", bundleHead + "zz: {k: 1, k: 2}\n", false},
	{"a merge key", bundleHead + "rules: [{<<: {id: a, action: x}, condition: c}]\n", false},
	{"a tag", bundleHead + "rules: [{id: !!str 12, action: x}]\n", false},
	{"a tag on a mapping", bundleHead + "rules: [!!map {id: a}]\n", false},
	{"a binary key", bundleHead + "rules: [{!!binary aWQ=: a}]\n", false},
	{"a bad tag", bundleHead + "rules: [{id: !!int abc}]\n", false},
	{"a key that is not a string", bundleHead + "rules: [{1: a}]\n", false},
	{"a null key", bundleHead + "rules: [{~: a}]\n", false},
	{"a list key", bundleHead + "rules: [{[a]: b}]\n", false},
	{"a list", "- a\n- b\n", false},
	{"a scalar", "hello\n", false},
	{"null", "~\n", false},
}

// walkYAMLTree reads every bundle to the policy or error yaml.v3's own
// decoding does, and gives up only on what it cannot read exactly.
func TestYAMLTreeWalkReadsAsYAMLDecoding(t *testing.T) {
	demo, err := os.ReadFile("../examples/demo-agent.yaml")
	require.NoError(t, err)
	cases := append(slices.Clip(walkCases), walkCase{"demo agent", string(demo), true})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			walked := assertWalkReadsAsDecoding(t, []byte(tt.yaml), domain.DefaultPolicyLimits())
			assert.Equal(t, tt.walked, walked, "read by the walk")
		})
	}
}

// FuzzYAMLTreeWalkReadsAsYAMLDecoding looks for a YAML bundle that reads
// otherwise with walkYAMLTree than by yaml.v3's decoding.
func FuzzYAMLTreeWalkReadsAsYAMLDecoding(f *testing.F) {
	demo, err := os.ReadFile("../examples/demo-agent.yaml")
	require.NoError(f, err)
	f.Add(demo)
	for _, c := range walkCases {
		f.Add([]byte(c.yaml))
	}
	limits, err := domain.DefaultPolicyLimits().With(map[string]int{"rules": 3, "examples": 2, "references": 2, "steps": 2,
		"transitions": 2, "variable_values": 2, "constraints": 2})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		assertWalkReadsAsDecoding(t, data, limits)
	})
}
