package application

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// flowBundle declares variables and uses them in a guard and templates.
const flowBundle = bundleHead + `
variables:
  - name: order_id
    type: pattern
    description: order number
    hint: AC- followed by six digits
    pattern: '\bac[\s-]*(\d+)\b|\b(\d{6})\b'
    normalize: AC-$1$2
    valid: 'AC-\d{6}'
  - name: reason
    type: enum
    changeable: false
    values:
      - {value: wrong_size, synonyms: [too tight, too small]}
      - {value: damaged, synonyms: [broken zipper, torn]}
  - {name: refund, type: amount, currency: EUR, max: 500, initial: 0}
  - {name: tier, type: text, from_metadata: tier}
scenarios:
  - id: returns
    entry_condition: return an item
    entry_step_id: ask_order
    on_start: clear
    steps:
      - id: ask_order
        template_ids: [tpl_ask]
        transitions:
          - to: confirm
            when: vars.order_id != nil && vars.reason in ["wrong_size", "damaged"]
      - id: confirm
        terminal: true
templates:
  - id: tpl_ask
    mode: exclusive
    text: "What is your order number, {meta.first_name|there}?"
    default: What is your order number?
tools:
  - {id: lookup, url: "https://tools.example.com/orders", outputs: [item_name], secret_env: ORDERS}
`

func TestBundleWithVariablesRoundTrips(t *testing.T) {
	p, err := ParseBundle([]byte(flowBundle))
	require.NoError(t, err)
	require.NoError(t, ValidatePolicy(p))
	require.Len(t, p.Variables, 4)
	assert.True(t, p.Variables[0].Changeable, "changeable unless said otherwise")
	assert.False(t, p.Variables[1].Changeable)
	assert.Equal(t, []domain.EnumValue{{Value: "wrong_size", Synonyms: []string{"too tight", "too small"}}, {Value: "damaged", Synonyms: []string{"broken zipper", "torn"}}}, p.Variables[1].Values)
	assert.Equal(t, 500.0, *p.Variables[2].Max)
	assert.Equal(t, `vars.order_id != nil && vars.reason in ["wrong_size", "damaged"]`, p.Scenarios[0].Steps[0].Transitions[0].When)
	assert.Equal(t, "What is your order number?", p.Templates[0].Default)
	assert.Equal(t, domain.StartClear, p.Scenarios[0].OnStart)
	assert.Equal(t, "ORDERS", p.Tools[0].SecretEnv)

	out, err := EncodeBundleYAML(p)
	require.NoError(t, err)
	again, err := ParseBundle(out)
	require.NoError(t, err, "%s", out)
	want, _ := json.Marshal(p)
	got, _ := json.Marshal(again)
	assert.JSONEq(t, string(want), string(got), "YAML export imports back unchanged")
}

// A guard that does not compile, or reads what nothing sets, is refused
// with the path of its field.
func TestBundleGuardErrorsNameTheirField(t *testing.T) {
	for _, tt := range []struct{ when, msg string }{
		{`vars.order_id != nil &&`, "expression does not compile"},
		{`len(repeat("x", 99)) > 0`, "may not use repeat()"},
		{`vars.order_number != nil`, "vars.order_number is nothing that can have a value"},
	} {
		p, err := ParseBundle([]byte(flowBundle))
		require.NoError(t, err)
		p.Scenarios[0].Steps[0].Transitions[0].When = tt.when
		err = ValidatePolicy(p)
		require.Error(t, err, tt.when)
		var de *domain.Error
		require.ErrorAs(t, err, &de)
		require.Len(t, de.Details, 1, "%v", de.Details)
		assert.Equal(t, "scenarios[0].steps[0].transitions[0].when", de.Details[0].Field)
		assert.Contains(t, de.Details[0].Message, tt.msg)
	}
}

func TestBundleVariableFieldsAreKnownAndTyped(t *testing.T) {
	_, err := ParseBundle([]byte(bundleHead + "variables:\n  - {name: x, type: text, colour: blue}\n"))
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "variables[0].colour", de.Details[0].Field)

	_, err = ParseBundle([]byte(bundleHead + "variables:\n  - {name: x, type: number, max: lots}\n"))
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "variables.max", de.Details[0].Field)
	assert.Equal(t, "must be a number (string given)", de.Details[0].Message)
}

// The demo agent's own declarations read the returns flow's values from
// the ways customers write them.
func TestDemoAgentVariablesReadWhatCustomersWrite(t *testing.T) {
	raw, err := os.ReadFile("../examples/demo-agent.yaml")
	require.NoError(t, err)
	p, err := ParseBundle(raw)
	require.NoError(t, err)
	require.NoError(t, ValidatePolicy(p))
	set, err := domain.CompileVariables(p.Variables)
	require.NoError(t, err)
	now := time.Date(2025, time.January, 15, 9, 0, 0, 0, time.UTC)
	for msg, want := range map[string]any{
		"ac123456": "AC-123456", "AC 123456": "AC-123456", "AC-123456": "AC-123456", "it's 123456": "AC-123456",
	} {
		got := set.Extract([]string{"order_id"}, msg, now)
		require.Len(t, got, 1, msg)
		assert.Equal(t, want, got[0].Value, msg)
	}
	got := set.Extract([]string{"order_id"}, "AC-12345", now)
	require.Len(t, got, 1)
	assert.Equal(t, `"AC-12345" is not a valid order number: AC- followed by six digits`, got[0].Reason)
	got = set.Extract([]string{"order_id"}, "AC-123456 or AC-654321", now)
	require.Len(t, got, 1)
	assert.Equal(t, domain.ProblemAmbiguous, got[0].Problem)

	for msg, want := range map[string]any{"it was too tight": "wrong_size", "broken zipper": "damaged", "I changed my mind": "changed_mind"} {
		got := set.Extract([]string{"reason"}, msg, now)
		require.Len(t, got, 1, msg)
		assert.Equal(t, want, got[0].Value, msg)
	}
}
