package application

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
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
