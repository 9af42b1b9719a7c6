package domain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParsedTemplate is a template split into literal text and placeholders, so
// rendering never re-parses.
type ParsedTemplate struct {
	parts []templatePart
}

type templatePart struct {
	literal  string
	variable string // set for a placeholder
}

// Variables returns the placeholder names in order of appearance.
func (t ParsedTemplate) Variables() []string {
	var names []string
	for _, p := range t.parts {
		if p.variable != "" {
			names = append(names, p.variable)
		}
	}
	return names
}

// ParseTemplate splits text into literals and {name} placeholders. Names are
// letters, digits, '_' and '.', starting with a letter or '_'. "{{" and "}}"
// stand for literal braces.
func ParseTemplate(text string) (ParsedTemplate, error) {
	var t ParsedTemplate
	var lit strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '{' && i+1 < len(text) && text[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(text) && text[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(text[i+1:], '}')
			if end < 0 {
				return ParsedTemplate{}, fmt.Errorf("unclosed placeholder at byte %d", i)
			}
			name := text[i+1 : i+1+end]
			if !validVariableName(name) {
				return ParsedTemplate{}, fmt.Errorf("invalid placeholder {%s}: names are letters, digits, '_' and '.'", name)
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, templatePart{literal: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, templatePart{variable: name})
			i += end + 1
		case c == '}':
			return ParsedTemplate{}, errors.New("unmatched '}': write '}}' for a literal brace")
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, templatePart{literal: lit.String()})
	}
	return t, nil
}

func validVariableName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		digit := c >= '0' && c <= '9'
		if !(letter || (i > 0 && (digit || c == '.'))) {
			return false
		}
	}
	return true
}

// Render substitutes vars into the template. A missing variable renders as
// the empty string and is reported in missing, so a reply never shows a raw
// placeholder to a customer.
func (t ParsedTemplate) Render(vars map[string]any) (text string, missing []string) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.variable == "" {
			b.WriteString(p.literal)
			continue
		}
		v, ok := vars[p.variable]
		if !ok || v == nil {
			missing = append(missing, p.variable)
			continue
		}
		b.WriteString(FormatValue(v))
	}
	return b.String(), missing
}

// FormatValue renders a variable value as reply text: numbers without
// exponent noise, strings as they are.
func FormatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	default:
		return fmt.Sprint(x)
	}
}
