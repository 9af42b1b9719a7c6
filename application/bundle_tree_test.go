package application

import (
	"fmt"
	"reflect"
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
