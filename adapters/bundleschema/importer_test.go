package bundleschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
	"focal/domain"
)

// everyPart is a valid bundle that uses every part and most fields, so each
// of its keys can be taken away or spoilt in turn.
const everyPart = `
agent:
  id: 3f2504e0-4f89-11d3-9a0c-0305e82c3301
  tenant_id: 550e8400-e29b-41d4-a716-446655440000
  name: Schema fixture
  description: every part once
  system_prompt: Be brief.
  enabled: true
  version: 3
  created_at: 2026-01-02T03:04:05Z
  updated_at: 2026-01-02T03:04:05Z
  settings: {model: m, temperature: 0.2, max_tokens: 200, history_turns: 4, rule_judge: false,
             match_threshold: 0.4, semantic_weight: 0.5, top_k: 3, scenario_entry_threshold: 0.5,
             transition_threshold: 0.4, transition_margin: 0.1, max_step_visits: 3, max_regenerations: 1,
             refusal_message: Sorry.}
rules:
  - {id: hello, name: Hello, condition: hello, action: Greet., scope: global, priority: 5, enabled: true,
     max_fires_per_session: 1, cooldown_turns: 1, tool_ids: [lookup], template_ids: [tpl_hello]}
  - {id: in_flow, condition: help, action: Help., scope: step, scope_id: flow/first}
  - id: careful
    condition: refund
    hard: true
    constraints: [{kind: forbid_phrase, value: guaranteed}]
scenarios:
  - id: flow
    name: Flow
    description: two steps
    entry_condition: start
    exit_condition: stop
    entry_step_id: first
    on_start: clear
    enabled: true
    steps:
      - {id: first, name: First, instructions: Ask., template_ids: [tpl_hello], rule_ids: [hello],
         transitions: [{to: second, condition: next, when: 'vars.order_id != nil', priority: 1}]}
      - {id: second, terminal: true}
templates:
  - {id: tpl_hello, name: Hello, text: "Hi {meta.first_name|there}, {state}!", mode: suggest, default: "Hi {agent_name}!"}
tools:
  - {id: lookup, name: Lookup, url: "https://tools.example/lookup", timeout_ms: 2000, inputs: [order], outputs: [state],
     secret: whsec-0123456789abcdef}
  - {id: erp, url: "https://erp.example/orders", secret_env: ERP_HOOK, outputs: [item]}
variables:
  - {name: order_id, type: pattern, description: order number, hint: AC- and six digits, pattern: 'ac-(\d{6})',
     normalize: AC-$1, valid: 'AC-\d{6}', changeable: true, from_metadata: order}
  - name: reason
    type: enum
    changeable: false
    initial: wrong_size
    values: [{value: wrong_size, synonyms: [too tight]}, {value: damaged}]
  - {name: refund, type: amount, currency: EUR, min: 0, max: 100, initial: 10}
  - {name: bought, type: date, date_order: dmy}
`

// conditionallyRequired are optional fields the importer requires only
// together with others, which the schema does not express.
var conditionallyRequired = map[string]string{
	"hard":     "must be true when the rule has constraints",
	"scope_id": "names the scenario or step of a scenario- or step-scoped rule",
	"pattern":  "is required of a pattern variable",
	"values":   "are required of an enum variable",
}

// importerAccepts reports whether the importer takes doc, and the fields it
// complains about.
func importerAccepts(t *testing.T, doc any) (bool, []string) {
	t.Helper()
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	p, err := application.ParseBundle(raw)
	if err == nil {
		err = application.ValidatePolicy(p)
	}
	if err == nil {
		return true, nil
	}
	var de *domain.Error
	require.True(t, errors.As(err, &de), "the importer answers a domain error: %v", err)
	var fields []string
	for _, d := range de.Details {
		fields = append(fields, d.Field)
	}
	return false, fields
}

// site is one key of an object inside the fixture.
type site struct {
	obj  map[string]any
	key  string
	path string // as the importer names fields: rules[0].condition
}

// node finds the value at path ("" is the whole document).
func node(t *testing.T, doc any, path string) any {
	t.Helper()
	found := map[string]any{"": doc}
	var walk func(v any, p string)
	walk = func(v any, p string) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				q := k
				if p != "" {
					q = p + "." + k
				}
				found[q] = child
				walk(child, q)
			}
		case []any:
			for i, child := range x {
				q := fmt.Sprintf("%s[%d]", p, i)
				found[q] = child
				walk(child, q)
			}
		}
	}
	walk(doc, "")
	v, ok := found[path]
	require.True(t, ok, "the fixture has no %s", path)
	return v
}

func sites(v any, path string, out *[]site) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			*out = append(*out, site{obj: x, key: k, path: p})
			sites(child, p, out)
		}
	case []any:
		for i, child := range x {
			sites(child, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// The schema and the importer agree on the fixture and on every one-key
// change to it: a field the schema requires is one the importer cannot do
// without; a field the importer needs is required by the schema; an unknown
// key, a value outside an enum and a value of the wrong type fail both.
func TestSchemaAgreesWithTheImporter(t *testing.T) {
	s := compile(t)
	fixture := func() any { return asJSONValue(t, []byte(everyPart)) }
	ok, fields := importerAccepts(t, fixture())
	require.True(t, ok, "the fixture is a valid bundle: %v", fields)
	require.NoError(t, s.Validate(fixture()))

	var all []site
	sites(fixture(), "", &all)
	for i := range all {
		path := all[i].path
		mutate := func(change func(site)) any {
			doc := fixture()
			var again []site
			sites(doc, "", &again)
			at := slices.IndexFunc(again, func(x site) bool { return x.path == path })
			require.GreaterOrEqual(t, at, 0)
			change(again[at])
			return doc
		}

		doc := mutate(func(x site) { delete(x.obj, x.key) })
		schemaOK := s.Validate(doc) == nil
		importOK, complaints := importerAccepts(t, doc)
		switch {
		case !schemaOK:
			assert.False(t, importOK, "without %s: the schema requires it, the importer does not", path)
		case !importOK && slices.Contains(complaints, path):
			_, conditional := conditionallyRequired[all[i].key]
			assert.True(t, conditional, "without %s: the importer requires it, the schema does not", path)
		}

		doc = mutate(func(x site) { x.obj[x.key] = map[string]any{"unexpected": true} })
		if s.Validate(doc) == nil {
			ok, _ := importerAccepts(t, doc)
			assert.True(t, ok, "%s as an object: the schema accepts it, the importer does not", path)
		} else if ok, _ := importerAccepts(t, doc); ok {
			t.Errorf("%s as an object: the importer accepts it, the schema does not", path)
		}
	}

	for _, obj := range []string{"", "agent", "agent.settings", "rules[0]", "rules[2].constraints[0]", "scenarios[0]",
		"scenarios[0].steps[0]", "scenarios[0].steps[0].transitions[0]", "templates[0]", "tools[0]",
		"variables[0]", "variables[1].values[0]"} {
		doc := fixture()
		node(t, doc, obj).(map[string]any)["colour"] = "blue"
		assert.Error(t, s.Validate(doc), "unknown key in %q: the schema refuses it", obj)
		ok, _ := importerAccepts(t, doc)
		assert.False(t, ok, "unknown key in %q: the importer refuses it", obj)
	}

	for _, enum := range []string{"rules[0].scope", "templates[0].mode", "rules[2].constraints[0].kind", "variables[0].type"} {
		doc := fixture()
		var all []site
		sites(doc, "", &all)
		at := slices.IndexFunc(all, func(x site) bool { return x.path == enum })
		require.GreaterOrEqual(t, at, 0, enum)
		all[at].obj[all[at].key] = "bogus"
		assert.Error(t, s.Validate(doc), "%s outside its enum: the schema refuses it", enum)
		ok, _ := importerAccepts(t, doc)
		assert.False(t, ok, "%s outside its enum: the importer refuses it", enum)
	}
}
