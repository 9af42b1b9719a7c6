package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Check validates a value that comes from elsewhere than the message
// itself (the model's extraction, a tool, request metadata, an initial
// value) and returns it in the variable's stored form. Strings are read
// the way messages are, so "ac 123456" becomes "AC-123456", "$45" an
// amount and "tomorrow" a date. The error is an *ExtractError.
func (x *Extractor) Check(value any, now time.Time) (any, error) {
	if s, ok := value.(string); ok && x.v.Type != VarText {
		return x.checkString(s, now)
	}
	switch x.v.Type {
	case VarText:
		return x.checkText(value)
	case VarNumber:
		n, ok := number(value)
		if !ok {
			return nil, x.invalid(FormatValue(value), "it must be a number")
		}
		return x.checkBounds(candidate{value: n, text: FormatValue(n)})
	case VarBoolean:
		if b, ok := value.(bool); ok {
			return b, nil
		}
		return nil, x.invalid(FormatValue(value), "it must be yes or no")
	case VarAmount:
		return x.checkAmount(value)
	}
	return nil, x.invalid(FormatValue(value), fmt.Sprintf("a %s is written as text", x.v.Type))
}

// checkString reads a string given for a typed variable the way a message
// is read; an enum's value itself is taken as it is.
func (x *Extractor) checkString(s string, now time.Time) (any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, x.invalid(s, "it is empty")
	}
	if x.v.Type == VarEnum {
		for _, ev := range x.v.Values {
			if strings.EqualFold(ev.Value, s) {
				return ev.Value, nil
			}
		}
	}
	c, ok, err := x.resolve(x.candidates(s, now))
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, x.invalid(s, "")
	}
	return c.value, nil
}

// checkText takes a text value, trimmed and within the variable's limits.
func (x *Extractor) checkText(value any) (any, error) {
	s, ok := value.(string)
	if !ok {
		return nil, x.invalid(FormatValue(value), "it must be text")
	}
	c := textCandidates(s)
	if len(c) == 0 {
		return nil, x.invalid(s, "it is empty")
	}
	if !c[0].ok() {
		return nil, x.invalid(c[0].text, c[0].detail)
	}
	return c[0].value, nil
}

// checkAmount takes a number (in the variable's currency) or an amount
// object {"value": n, "currency": "EUR"}.
func (x *Extractor) checkAmount(value any) (any, error) {
	n, currency, ok := 0.0, x.v.Currency, false
	if obj, isObj := value.(map[string]any); isObj {
		n, ok = number(obj["value"])
		for k := range obj {
			ok = ok && (k == "value" || k == "currency")
		}
		if c, has := obj["currency"]; has && c != nil {
			s, isStr := c.(string)
			ok = ok && isStr && isoCurrency.MatchString(s)
			currency = s
		}
	} else {
		n, ok = number(value)
	}
	if !ok {
		return nil, x.invalid(FormatValue(value), `it must be an amount, such as 12.50 or {"value": 12.5, "currency": "EUR"}`)
	}
	c := x.amount(candidate{value: n, text: FormatValue(n)}, currency)
	if !c.ok() {
		return nil, x.invalid(c.text, c.detail)
	}
	return x.checkBounds(c)
}

func (x *Extractor) checkBounds(c candidate) (any, error) {
	c = x.bounded([]candidate{c})[0]
	if !c.ok() {
		return nil, x.invalid(c.text, c.detail)
	}
	return c.value, nil
}

// invalid is the error for an invalid value given as text.
func (x *Extractor) invalid(text, detail string) error {
	c := candidate{text: text, invalid: true, detail: detail}
	return &ExtractError{Variable: x.v.Name, Problem: ProblemInvalid, Text: text, Reason: x.reason(c)}
}

// number reads a JSON number in any of the forms decoders produce.
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}
