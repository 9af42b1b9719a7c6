package alignment

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

var guardTurn = time.Date(2025, time.January, 15, 9, 0, 0, 0, time.UTC)

func TestGuardsDecideOnVariablesMetadataAndDates(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	collected := map[string]any{"order_id": "AC-123456", "reason": "wrong_size", "purchase_date": "2024-12-20", "quantity": 2.0}
	for _, tt := range []struct {
		src  string
		vars map[string]any
		meta map[string]any
		want bool
	}{
		{`vars.order_id != nil && vars.reason in ["wrong_size", "damaged"]`, collected, nil, true},
		{`vars.order_id != nil && vars.reason in ["wrong_size", "damaged"]`, map[string]any{"order_id": "AC-123456"}, nil, false},
		{`vars.order_id != nil`, nil, nil, false},
		{`days_between(vars.purchase_date, today) <= 30`, collected, nil, true},
		{`days_between(vars.purchase_date, today) > 30`, collected, nil, false},
		{`meta.tier == "gold" || vars.quantity > 5`, collected, map[string]any{"tier": "gold"}, true},
		{`meta.tier == "gold" || vars.quantity > 5`, collected, nil, false},
		{`(meta.customer?.orders ?? 0) >= 3`, nil, map[string]any{"customer": map[string]any{"orders": 4.0}}, true},
		{`vars.order_id startsWith "AC-" and len(vars.order_id) == 9`, collected, nil, true},
		{`vars.order_id matches "^AC-\\d{6}$"`, collected, nil, true},
		{`today == "2025-01-15"`, nil, nil, true},
	} {
		g, err := CompileWhen(tt.src, limits)
		require.NoError(t, err, tt.src)
		got, err := g.Holds(tt.vars, tt.meta, guardTurn)
		require.NoError(t, err, tt.src)
		assert.Equal(t, tt.want, got, "%s with %v and %v", tt.src, tt.vars, tt.meta)
	}
}

// A guard that cannot be evaluated is not taken, and says why.
func TestGuardsFailClosed(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	for _, tt := range []struct {
		src  string
		vars map[string]any
		msg  string
	}{
		{`days_between(vars.purchase_date, today) < 30`, map[string]any{"purchase_date": "last week"}, "YYYY-MM-DD"},
		{`days_between(vars.purchase_date, today) < 30`, map[string]any{"purchase_date": 12.0}, "YYYY-MM-DD"},
		{`vars.quantity > 2`, map[string]any{"quantity": "two"}, "invalid operation"},
		{`vars.order_id`, map[string]any{"order_id": "AC-123456"}, "bool"},
	} {
		g, err := CompileWhen(tt.src, limits)
		require.NoError(t, err, tt.src)
		ok, err := g.Holds(tt.vars, nil, guardTurn)
		assert.False(t, ok, tt.src)
		require.Error(t, err, tt.src)
		assert.Contains(t, err.Error(), tt.msg, tt.src)
	}
}

// Guards are held to the same language and limits as constraint
// expressions: what could exhaust the process is refused at import.
func TestGuardsShareTheHardenedLanguage(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	for _, tt := range []struct{ src, msg string }{
		{`vars.order_id != nil &&`, "does not compile"},
		{`vars.reason in ["a"] ||`, "does not compile"},
		{`len(repeat("x", 999999)) > 0`, "may not use repeat()"},
		{`len(1..999999999) > 0`, `operator ".."`},
		{`all(vars.items, {# > 0})`, "may not use all()"},
		{`now().Year() > 2000`, "may not"},
		{`vars.order_id matches vars.pattern`, "constant pattern"},
		{`vars.order_id matches "(?:(?:\\w{30}){30})(?:(?:\\d{30}){30})"`, "more than 2000 instructions"},
		{`today + "x" == ""`, "must not join strings"},
		{`today`, "expected bool"},
		{`days_between(vars.a) > 1`, "not enough arguments"},
		{`order_id != nil`, "unknown name order_id"},
		{`vars.a == 1 && ` + string(make([]byte, 1000)), "at most 1000 bytes"},
	} {
		_, err := CompileWhen(tt.src, limits)
		require.Error(t, err, tt.src)
		assert.Contains(t, err.Error(), tt.msg, tt.src)
	}
	nodes, err := domain.DefaultPolicyLimits().With(map[string]int{"expression_nodes": 5})
	require.NoError(t, err)
	_, err = CompileWhen(`vars.a == 1 && vars.b == 2 && vars.c == 3`, nodes)
	require.ErrorContains(t, err, "policy limit expression_nodes")
}

func TestWhenVariablesNamesTheVariablesRead(t *testing.T) {
	assert.Equal(t, []string{"order_id", "reason"},
		WhenVariables(`vars.reason in ["a"] && vars["order_id"] != nil && meta.tier == "x" && vars.reason != "b"`))
	assert.Empty(t, WhenVariables(`meta.tier == "gold"`))
	assert.Empty(t, WhenVariables(`vars.(`))
}
