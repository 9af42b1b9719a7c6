package domain

import (
	"encoding/json"
	"regexp"
	"strings"
)

// VariableType says what values a variable holds and how they are read
// from a message.
type VariableType string

// Variable types.
const (
	VarText    VariableType = "text"    // the message itself, trimmed
	VarNumber  VariableType = "number"  // float64
	VarBoolean VariableType = "boolean" // yes or no
	VarEnum    VariableType = "enum"    // one of Values, named by its value or a synonym
	VarDate    VariableType = "date"    // "YYYY-MM-DD", read relative to the turn's time
	VarAmount  VariableType = "amount"  // {"value": float64, "currency": "EUR"}
	VarEmail   VariableType = "email"   // an address, its domain in lower case
	VarPhone   VariableType = "phone"   // digits, with a leading + when given
	VarPattern VariableType = "pattern" // what Pattern finds, rewritten by Normalize
)

// VariableTypes lists every variable type.
var VariableTypes = []VariableType{VarText, VarNumber, VarBoolean, VarEnum, VarDate, VarAmount, VarEmail, VarPhone, VarPattern}

// Variable is a value an agent collects from the conversation (or from
// tools and request metadata) and keeps in the session.
type Variable struct {
	// Name is how templates ({order_id}), expressions (vars.order_id) and
	// tools refer to it.
	Name string       `json:"name"`
	Type VariableType `json:"type"`
	// Description says what it is in words ("the order number"): problems
	// name the variable by it, and the model's extraction request shows it.
	Description string `json:"description,omitempty"`
	// Hint says what a valid value looks like ("AC- and six digits"), for
	// the reason given when a value is invalid.
	Hint string `json:"hint,omitempty"`
	// Values are the choices of an enum variable.
	Values []EnumValue `json:"values,omitempty"`
	// Pattern (pattern variables) is an RE2 expression that finds the
	// value in a message, case-insensitively.
	Pattern string `json:"pattern,omitempty"`
	// Normalize rewrites what Pattern found into the stored form, with $1
	// or ${name} for its groups ("AC-$1"); empty keeps the match as found.
	Normalize string `json:"normalize,omitempty"`
	// Valid, when set, is an RE2 expression the normalised value must
	// match whole; a value Pattern found that does not is invalid.
	Valid string `json:"valid,omitempty"`
	// Currency (amount variables) is the ISO 4217 code of amounts given
	// without one; an amount in another currency is invalid.
	Currency string `json:"currency,omitempty"`
	// DateOrder (date variables) reads numeric dates like 12/03 as
	// day/month ("dmy") or month/day ("mdy"); unset, a date both readings
	// allow and on which they differ is ambiguous.
	DateOrder string `json:"date_order,omitempty"`
	// Min and Max bound number and amount values.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Changeable says whether the customer may change the value once it
	// is set (default true); tools and metadata always may.
	Changeable bool `json:"changeable"`
	// Initial is the value a new session starts with.
	Initial VariableValue `json:"initial,omitempty"`
	// FromMetadata names a request metadata key whose value, when a
	// request carries it, sets the variable.
	FromMetadata string `json:"from_metadata,omitempty"`
}

// VariableValue is a variable's value as a bundle writes it: a string,
// number or boolean.
type VariableValue any

// UnmarshalJSON makes a missing "changeable" mean changeable.
func (v *Variable) UnmarshalJSON(b []byte) error {
	type plain Variable
	p := plain{Changeable: true}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*v = Variable(p)
	return nil
}

// EnumValue is one choice of an enum variable, with the words customers
// use for it ("too tight" for wrong_size).
type EnumValue struct {
	Value    string   `json:"value"`
	Synonyms []string `json:"synonyms,omitempty"`
}

// Label names the variable in words: its description, else its name.
func (v *Variable) Label() string {
	if v.Description != "" {
		return v.Description
	}
	return strings.ReplaceAll(v.Name, "_", " ")
}

// BuiltinVariables are set by the engine on every turn; templates and
// expressions may use them without a declaration.
var BuiltinVariables = []string{"agent_name", "channel", "user_channel_id", "session_id", "turn_number"}

// MetaPrefix starts a placeholder that reads request metadata ({meta.tier}).
const MetaPrefix = "meta."

// variableName is the form of a variable's name: an identifier, so that
// expressions can write vars.<name>.
var variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// IsVariableName reports whether s has the syntax of a declared
// variable's name.
func IsVariableName(s string) bool { return variableName.MatchString(s) }

// isoCurrency is an ISO 4217 code.
var isoCurrency = regexp.MustCompile(`^[A-Z]{3}$`)

// Date orders of numeric dates.
const (
	DateOrderDMY = "dmy"
	DateOrderMDY = "mdy"
)

// Settable returns the names a template or an expression may read: the
// declared variables, the tools' declared outputs and the built-ins. open
// reports a tool that declares no outputs: it passes on whatever it
// answers, so any name might be set. Request metadata (meta.*) is read
// separately: its keys vary per request.
func (p *Policy) Settable() (names map[string]bool, open bool) {
	names = map[string]bool{}
	for _, b := range BuiltinVariables {
		names[b] = true
	}
	for _, v := range p.Variables {
		names[v.Name] = true
	}
	for _, t := range p.Tools {
		open = open || len(t.Outputs) == 0
		for _, o := range t.Outputs {
			names[o] = true
		}
	}
	return names, open
}
