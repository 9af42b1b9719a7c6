package application

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"focal/domain"
)

// asJSON is a YAML bundle's JSON form, as an API client would send it.
func asJSON(t *testing.T, yamlBundle string) string {
	t.Helper()
	var doc any
	require.NoError(t, yaml.Unmarshal([]byte(yamlBundle), &doc))
	out, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	return string(out)
}

// benchLikeBundle is a bundle shaped as test/load's bench agent (see
// buildBundle there): n rules of several phrasings each, with ids,
// priorities, templates, cooldowns and scopes, and their templates.
func benchLikeBundle(n int) string {
	type m = map[string]any
	rules := make([]m, 0, n)
	for i := range n {
		intent := fmt.Sprintf("intent_%d", i%76)
		rule := m{"id": fmt.Sprintf("r%05d_%s", i, intent), "action": "Help the customer with " + intent + ".",
			"condition": fmt.Sprintf("my card %d has not arrived; where is card number %d, please?; it's been a week: no card", i, i*7),
			"priority":  i%21 - 10, "template_ids": []string{"tpl_" + intent}}
		if i%7 == 3 {
			rule["cooldown_turns"] = 1
		}
		rules = append(rules, rule)
	}
	var templates []m
	for i := range 76 {
		templates = append(templates, m{"id": fmt.Sprintf("tpl_intent_%d", i), "mode": "suggest", "text": "I can help with that."})
	}
	out, _ := json.MarshalIndent(m{"agent": m{"id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "name": "bench", "settings": m{"history_turns": 10}},
		"rules": rules, "templates": templates, "tools": []m{}}, "", " ")
	return string(out)
}

// manyUnknown is a rule of n unknown fields, in reverse order.
func manyUnknown(n int) string {
	var b strings.Builder
	b.WriteString(`{"id": "r"`)
	for i := n; i > 0; i-- {
		fmt.Fprintf(&b, `, "x%02d": {"y": 1, "b": 2}`, i)
	}
	return b.String() + "}"
}

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
