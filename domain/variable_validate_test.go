package domain_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// flowPolicy is shopPolicy with declared variables, a tool that declares
// its outputs and templates that use both.
func flowPolicy() *domain.Policy {
	p := shopPolicy()
	p.Variables = []domain.Variable{orderID, returnReason(),
		{Name: "refund", Type: domain.VarAmount, Currency: "EUR", Min: num(0), Max: num(500), Changeable: true},
		{Name: "tier", Type: domain.VarEnum, Values: []domain.EnumValue{{Value: "gold"}, {Value: "basic"}}, Initial: "basic", FromMetadata: "tier"},
	}
	p.Tools[0].Outputs = []string{"name", "order", "item_name"}
	p.Tools[0].Secret = "0123456789abcdef-signing"
	p.Templates = append(p.Templates, domain.Template{ID: "t_confirm", Mode: domain.ModeExclusive,
		Text:    "Return of {item_name} ({order_id}, {reason}) registered for {meta.first_name|you}.",
		Default: "Your return is registered, {meta.first_name|thanks}."})
	p.Scenarios[0].Steps[0].Transitions = append(p.Scenarios[0].Steps[0].Transitions,
		domain.Transition{To: "done", When: `vars.order_id != nil && vars.reason in ["wrong_size", "damaged"]`})
	return p
}

func TestValidateAcceptsVariablesAndTheirUses(t *testing.T) {
	require.Empty(t, flowPolicy().Validate())
}

func TestValidateVariablesWithFieldPaths(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *domain.Policy)
		fields []string
		msg    string
	}{
		{"unknown type", func(p *domain.Policy) { p.Variables = append(p.Variables, domain.Variable{Name: "x", Type: "string"}) }, []string{"variables[4].type"}, "must be one of text, number"},
		{"name not an identifier", func(p *domain.Policy) { p.Variables[2].Name = "refund-amount" }, []string{"variables[2].name"}, "letters, digits or '_'"},
		{"built-in name", func(p *domain.Policy) { p.Variables[2].Name = "channel" }, []string{"variables[2].name"}, "built-in"},
		{"meta is reserved", func(p *domain.Policy) { p.Variables[2].Name = "meta" }, []string{"variables[2].name"}, "built-in"},
		{"duplicate name", func(p *domain.Policy) { p.Variables[2].Name = "reason" }, []string{"variables[2].name"}, "duplicate variable reason"},
		{"pattern without pattern", func(p *domain.Policy) { p.Variables[0].Pattern, p.Variables[0].Normalize = "", "" },
			[]string{"variables[0].pattern"}, "required"},
		{"pattern that does not compile", func(p *domain.Policy) { p.Variables[0].Pattern = "(ac" }, []string{"variables[0].pattern"}, "not a valid regular expression"},
		{"pattern matching nothing at all", func(p *domain.Policy) { p.Variables[0].Pattern, p.Variables[0].Normalize = `\d*`, "" },
			[]string{"variables[0].pattern"}, "empty text"},
		{"pattern too large", func(p *domain.Policy) { p.Variables[0].Pattern = `[a-z]{999}[0-9]{999}x{999}` }, []string{"variables[0].pattern"}, "policy limit pattern_program"},
		{"pattern over the byte limit", func(p *domain.Policy) { p.Variables[0].Pattern = strings.Repeat("a", 1001) }, []string{"variables[0].pattern"}, "pattern_bytes"},
		{"normaliser naming a missing group", func(p *domain.Policy) { p.Variables[0].Normalize = "AC-$3" }, []string{"variables[0].normalize"}, "group 3, but the pattern has 2"},
		{"normaliser naming an unknown group", func(p *domain.Policy) { p.Variables[0].Normalize = "AC-${digits}" }, []string{"variables[0].normalize"}, "refers to no group"},
		{"valid that does not compile", func(p *domain.Policy) { p.Variables[0].Valid = "[" }, []string{"variables[0].valid"}, "not a valid regular expression"},
		// valid is anchored by wrapping it in ^(?:…)$; one that compiles only
		// once wrapped would close the group and drop an anchor.
		{"valid that balances only once wrapped", func(p *domain.Policy) { p.Variables[0].Valid = "a)|(?:.*" }, []string{"variables[0].valid"}, "not a valid regular expression"},
		{"pattern fields on another type", func(p *domain.Policy) { p.Variables[2].Pattern = `\d+` }, []string{"variables[2].pattern"}, "applies only to pattern variables"},
		{"values on a pattern", func(p *domain.Policy) { p.Variables[0].Values = []domain.EnumValue{{Value: "x"}} }, []string{"variables[0].values"}, "only to enum"},
		{"enum without values", func(p *domain.Policy) { p.Variables[1].Values = nil }, []string{"variables[1].values"}, "at least one value"},
		{"enum value not an id", func(p *domain.Policy) { p.Variables[1].Values[0].Value = "wrong size" }, []string{"variables[1].values[0].value"}, "letters, digits"},
		{"synonym naming two values", func(p *domain.Policy) {
			p.Variables[1].Values[1].Synonyms = append(p.Variables[1].Values[1].Synonyms, "Too Tight")
		},
			[]string{"variables[1].values[1].synonyms[6]"}, `"Too Tight" also names wrong_size`},
		{"synonym without a word", func(p *domain.Policy) { p.Variables[1].Values[0].Synonyms[0] = "!!" }, []string{"variables[1].values[0].synonyms[0]"}, "must contain a word"},
		{"duplicate value", func(p *domain.Policy) { p.Variables[3].Values[1].Value = "gold" }, []string{"variables[3].values[1].value"}, "duplicate value gold"},
		{"currency not ISO", func(p *domain.Policy) { p.Variables[2].Currency = "euro" }, []string{"variables[2].currency"}, "ISO 4217"},
		{"min over max", func(p *domain.Policy) { p.Variables[2].Min = num(600) }, []string{"variables[2].min"}, "not be more than max"},
		{"min on an enum", func(p *domain.Policy) { p.Variables[1].Min = num(1) }, []string{"variables[1].min"}, "number and amount"},
		{"bad date order", func(p *domain.Policy) {
			p.Variables = append(p.Variables, domain.Variable{Name: "when", Type: domain.VarDate, DateOrder: "ymd"})
		}, []string{"variables[4].date_order"}, "dmy or mdy"},
		{"relative initial date", func(p *domain.Policy) {
			p.Variables = append(p.Variables, domain.Variable{Name: "when", Type: domain.VarDate, Initial: "tomorrow"})
		}, []string{"variables[4].initial"}, "YYYY-MM-DD"},
		{"initial of another type", func(p *domain.Policy) { p.Variables[3].Initial = "platinum" }, []string{"variables[3].initial"}, `"platinum" is not a valid tier`},
		{"initial over max", func(p *domain.Policy) { p.Variables[2].Initial = 900.0 }, []string{"variables[2].initial"}, "at most 500"},
		{"metadata key not an identifier", func(p *domain.Policy) { p.Variables[3].FromMetadata = "customer tier" }, []string{"variables[3].from_metadata"}, "metadata key"},
		// templates
		{"placeholder nothing sets", func(p *domain.Policy) { p.Templates[4].Text = "Your {parcel_id} is on its way." },
			[]string{"templates[4].text"}, "{parcel_id} is nothing that can have a value: declare a variable parcel_id"},
		{"metadata placeholder with a bad key", func(p *domain.Policy) { p.Templates[4].Text = "Hi {meta.1st}" }, []string{"templates[4].text"}, "metadata keys are"},
		{"default with a placeholder that may be unset", func(p *domain.Policy) { p.Templates[4].Default = "Registered, {meta.first_name}." },
			[]string{"templates[4].default"}, "give it a default of its own, {meta.first_name|...}"},
		{"default using an unset variable", func(p *domain.Policy) { p.Templates[4].Default = "Order {order_id} registered." },
			[]string{"templates[4].default"}, "a default text must never show a blank"},
		{"blank default", func(p *domain.Policy) { p.Templates[4].Default = "  " }, []string{"templates[4].default"}, "1..20000"},
		{"default that does not parse", func(p *domain.Policy) { p.Templates[4].Default = "Hi {x" }, []string{"templates[4].default"}, "unclosed"},
		{"braces in a placeholder default", func(p *domain.Policy) { p.Templates[4].Text = "Hi {meta.first_name|{x}" }, []string{"templates[4].text"}, "may not contain braces"},
		// transitions
		{"transition with neither condition nor when", func(p *domain.Policy) { p.Scenarios[0].Steps[0].Transitions[2].When = "" },
			[]string{"scenarios[0].steps[0].transitions[2].condition"}, "required unless the transition has a when"},
		{"when over the byte limit", func(p *domain.Policy) { p.Scenarios[0].Steps[0].Transitions[2].When = strings.Repeat("1", 1001) },
			[]string{"scenarios[0].steps[0].transitions[2].when"}, "expression_bytes"},
		// tool secrets
		{"secret and secret_env", func(p *domain.Policy) { p.Tools[0].SecretEnv = "ORDERS" }, []string{"tools[0].secret_env"}, "must be empty when secret"},
		{"short secret", func(p *domain.Policy) { p.Tools[0].Secret = "short" }, []string{"tools[0].secret"}, "16..256 bytes"},
		// docs/agent-bundle.md (Tools): a secret of 16..256 bytes; see TestToolSecretOfTheDocumentedLengthsIsTaken.
		{"secret of 15 bytes", func(p *domain.Policy) { p.Tools[0].Secret = strings.Repeat("s", 15) }, []string{"tools[0].secret"}, "16..256 bytes"},
		{"secret of 257 bytes", func(p *domain.Policy) { p.Tools[0].Secret = strings.Repeat("s", 257) }, []string{"tools[0].secret"}, "16..256 bytes"},
		{"secret of 129 characters in 258 bytes is counted in bytes", func(p *domain.Policy) { p.Tools[0].Secret = strings.Repeat("é", 129) },
			[]string{"tools[0].secret"}, "16..256 bytes"},
		{"the redaction placeholder as secret", func(p *domain.Policy) { p.Tools[0].Secret = domain.Redacted }, []string{"tools[0].secret"}, "placeholder"},
		{"secret_env not an env name", func(p *domain.Policy) { p.Tools[0].Secret, p.Tools[0].SecretEnv = "", "orders-key" },
			[]string{"tools[0].secret_env"}, "FOCAL_TOOL_SECRET_<secret_env>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := flowPolicy()
			tt.mutate(p)
			errs := p.Validate()
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
			}
			require.ElementsMatch(t, tt.fields, fields, "errors: %v", errs)
			i := slices.IndexFunc(errs, func(e domain.FieldError) bool { return e.Field == tt.fields[0] })
			require.Contains(t, errs[i].Message, tt.msg)
		})
	}
}

// A tool that declares no outputs may answer any name, so templates that
// could be using its outputs are not refused.
func TestTemplateReferencesAreOpenWhileAToolDeclaresNoOutputs(t *testing.T) {
	p := flowPolicy()
	p.Templates[4].Text = "Your {parcel_id} is on its way."
	p.Tools = append(p.Tools, domain.Tool{ID: "tracker", URL: "https://tools.example.com/track"})
	assert.Empty(t, p.Validate())
}

func TestVariablesCountTowardsTheirLimits(t *testing.T) {
	limits, err := domain.DefaultPolicyLimits().With(map[string]int{"variables": 3, "variable_values": 5})
	require.NoError(t, err)
	errs := flowPolicy().ValidateWithin(limits)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field+": "+e.Message)
	}
	assert.Equal(t, []string{"variables: must hold at most 3 items, not 4 (policy limit variables)"}, fields)

	p := flowPolicy()
	p.Variables = p.Variables[:2]
	errs = p.ValidateWithin(limits)
	require.Len(t, errs, 1)
	assert.Equal(t, "variables[1].values", errs[0].Field)
	assert.Contains(t, errs[0].Message, "at most 5 items, not 19 (policy limit variable_values)")
}

// docs/agent-bundle.md (Tools) takes a tool secret of 16..256 bytes: both
// ends are taken (the refusals just outside them, 15 and 257 bytes, are
// cases of TestValidateVariablesWithFieldPaths), and bytes are counted, not
// characters: eight two-byte letters are 16 bytes.
func TestToolSecretOfTheDocumentedLengthsIsTaken(t *testing.T) {
	for _, secret := range []string{strings.Repeat("s", 16), strings.Repeat("s", 256), strings.Repeat("é", 8)} {
		p := flowPolicy()
		p.Tools[0].Secret = secret
		require.Empty(t, p.Validate(), "a secret of %d bytes", len(secret))
	}
}
