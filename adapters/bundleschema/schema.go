// Package bundleschema generates the JSON Schema of agent bundle files from
// the Go types the importer decodes them into (domain.Policy and its
// parts), so editors can complete and check bundles and a new field reaches
// the schema without anyone writing it down twice.
package bundleschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/invopop/jsonschema"

	"focal/domain"
)

//go:generate go run focal/cmd/focal schema -o ../../docs/agent-bundle.schema.json

// Path is where the service serves the schema, and the name editors and
// bundles refer to it by.
const Path = "/schemas/agent-bundle.json"

// required lists, per part, the fields a bundle must give: those the
// importer's validation refuses to go without. Everything else is optional
// (defaults are documented in docs/agent-bundle.md). A test holds this table
// to the importer, both ways.
var required = map[reflect.Type][]string{
	reflect.TypeFor[domain.Policy]():     {"agent"},
	reflect.TypeFor[domain.Agent]():      {"id", "name"},
	reflect.TypeFor[domain.Rule]():       {"id", "condition"},
	reflect.TypeFor[domain.Scenario]():   {"id", "entry_condition", "entry_step_id", "steps"},
	reflect.TypeFor[domain.Step]():       {"id"},
	reflect.TypeFor[domain.Transition](): {"to"},
	reflect.TypeFor[domain.Template]():   {"id", "text", "mode"},
	reflect.TypeFor[domain.Tool]():       {"id", "url"},
	reflect.TypeFor[domain.Constraint](): {"kind", "value"},
	reflect.TypeFor[domain.Variable]():   {"name", "type"},
	reflect.TypeFor[domain.EnumValue]():  {"value"},
}

// enums are the closed sets of string values; the importer refuses others.
var enums = map[reflect.Type][]any{
	reflect.TypeFor[domain.RuleScope]():      {domain.ScopeGlobal, domain.ScopeScenario, domain.ScopeStep},
	reflect.TypeFor[domain.TemplateMode]():   {domain.ModeExclusive, domain.ModeSuggest, domain.ModeFallback},
	reflect.TypeFor[domain.ConstraintKind](): {domain.ConstraintForbidPhrase, domain.ConstraintForbidPattern, domain.ConstraintRequirePhrase, domain.ConstraintExpression, domain.ConstraintJudge},
	reflect.TypeFor[domain.VariableType]():   anySlice(domain.VariableTypes),
	reflect.TypeFor[domain.StartMode]():      {domain.StartKeep, domain.StartClear},
}

func anySlice[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// Generate returns the schema document, indented, ending in a newline. The
// same types always give the same bytes.
var Generate = sync.OnceValues(generate)

func generate() ([]byte, error) {
	r := &jsonschema.Reflector{
		// Unknown keys are errors in a bundle (application.ParseBundle),
		// so every object closes its properties: the reflector's default.
		AllowAdditionalProperties: false,
		// Required fields come from the table above, not from omitempty:
		// many fields without omitempty ("enabled", "version") have defaults.
		RequiredFromJSONSchemaTags: true,
		ExpandedStruct:             true,
		Anonymous:                  true,
		Mapper:                     enumSchema,
	}
	s := r.ReflectFromType(reflect.TypeFor[domain.Policy]())
	s.Title = "Focal agent bundle"
	s.Description = "An agent and everything that governs its replies, imported as one version (docs/agent-bundle.md)."
	if err := markRequired(s); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode the bundle schema: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent the bundle schema: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func enumSchema(t reflect.Type) *jsonschema.Schema {
	if t == reflect.TypeFor[domain.VariableValue]() {
		// An initial value is a string, number or boolean; which one its
		// variable's type takes is the importer's check.
		return &jsonschema.Schema{AnyOf: []*jsonschema.Schema{{Type: "string"}, {Type: "number"}, {Type: "boolean"}}}
	}
	values, ok := enums[t]
	if !ok {
		return nil
	}
	strs := make([]any, len(values))
	for i, v := range values {
		strs[i] = fmt.Sprint(v)
	}
	return &jsonschema.Schema{Type: "string", Enum: strs}
}

// markRequired sets each part's required fields, refusing a name the part
// does not have (a renamed field must not silently become optional).
func markRequired(root *jsonschema.Schema) error {
	for t, fields := range required {
		s := root
		if t != reflect.TypeFor[domain.Policy]() {
			s = root.Definitions[t.Name()]
		}
		if s == nil {
			return fmt.Errorf("bundle schema: no definition of %s", t.Name())
		}
		for _, f := range fields {
			if _, ok := s.Properties.Get(f); !ok {
				return fmt.Errorf("bundle schema: %s has no field %q", t.Name(), f)
			}
		}
		s.Required = slices.Clone(fields)
	}
	return nil
}
