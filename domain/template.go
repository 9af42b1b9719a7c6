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
	// def is said when the variable has no value, if hasDef.
	def    string
	hasDef bool
}

// Placeholder is one {name} or {name|default} of a template.
type Placeholder struct {
	Name string
	// Default is the text said when Name has no value, if HasDefault.
	Default    string
	HasDefault bool
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

// Placeholders returns the placeholders in order of appearance.
func (t ParsedTemplate) Placeholders() []Placeholder {
	var out []Placeholder
	for _, p := range t.parts {
		if p.variable != "" {
			out = append(out, Placeholder{Name: p.variable, Default: p.def, HasDefault: p.hasDef})
		}
	}
	return out
}

// ParseTemplate splits text into literals and {name} placeholders. Names are
// letters, digits, '_' and '.', starting with a letter or '_'. A placeholder
// may carry its own default after a '|' ("{first_name|there}"), said when
// the variable has no value. "{{" and "}}" stand for literal braces.
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
			inner := text[i+1 : i+1+end]
			name, def, hasDef := strings.Cut(inner, "|")
			if !validVariableName(name) {
				return ParsedTemplate{}, fmt.Errorf("invalid placeholder {%s}: names are letters, digits, '_' and '.'", name)
			}
			if strings.ContainsRune(def, '{') {
				return ParsedTemplate{}, fmt.Errorf("the default of placeholder {%s} may not contain braces", name)
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, templatePart{literal: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, templatePart{variable: name, def: def, hasDef: hasDef})
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

// Render substitutes vars into the template. A dotted name is a key of
// vars, else a path into nested maps ({meta.tier} is vars["meta"]["tier"]).
// A variable without a value says its placeholder's default; without one
// it renders as the empty string and is reported in missing, so a reply
// never shows a raw placeholder to a customer (see TemplateRenderer).
//
// A value that would take the text past MaxRenderedBytes counts as
// missing, and nothing past it is written: a template repeating one
// placeholder thousands of times over a long value (metadata, a tool's
// output) would otherwise say megabytes.
func (t ParsedTemplate) Render(vars map[string]any) (text string, missing []string) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.variable == "" {
			b.WriteString(p.literal)
			continue
		}
		v := lookupVariable(vars, p.variable)
		switch {
		case v != nil:
			if s := FormatValue(v); b.Len()+len(s) <= MaxRenderedBytes {
				b.WriteString(s)
			} else {
				missing = append(missing, p.variable)
			}
		case p.hasDef:
			b.WriteString(p.def)
		default:
			missing = append(missing, p.variable)
		}
	}
	return b.String(), missing
}

// MaxRenderedBytes bounds what a template says: four times the longest
// template text (text_runes, 20,000 characters, of up to four bytes each)
// and more than a reply needs.
const MaxRenderedBytes = 320 << 10

// lookupVariable finds name in vars: as a key, or as a path of keys
// through nested maps.
func lookupVariable(vars map[string]any, name string) any {
	if v, ok := vars[name]; ok {
		return v
	}
	var cur any = vars
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// TemplateRenderer renders a template so that it never shows a blank: when
// a placeholder of its text without a default of its own has no value, the
// template's default text is said instead.
type TemplateRenderer struct {
	text, def  ParsedTemplate
	hasDefault bool
	// literal is the text when it has no placeholder (isLiteral).
	literal   string
	isLiteral bool
}

// NewTemplateRenderer parses t's text and default.
func NewTemplateRenderer(t Template) (TemplateRenderer, error) {
	r := TemplateRenderer{hasDefault: t.Default != ""}
	var err error
	if r.text, err = ParseTemplate(t.Text); err != nil {
		return r, err
	}
	r.literal, r.isLiteral = r.text.literalText()
	if r.hasDefault {
		if r.def, err = ParseTemplate(t.Default); err != nil {
			return r, fmt.Errorf("default: %w", err)
		}
	}
	return r, nil
}

// Render returns the reply text. missing lists the placeholders of the
// template's text that had no value (and no default of their own). complete
// is false when the text had such a placeholder and the template has no
// default text: the text returned then has a blank, and the caller says
// something else (a step's re-ask).
func (r TemplateRenderer) Render(vars map[string]any) (text string, missing []string, complete bool) {
	text, missing = r.text.Render(vars)
	if len(missing) == 0 {
		return text, nil, true
	}
	if !r.hasDefault {
		return text, missing, false
	}
	text, stillMissing := r.def.Render(vars)
	return text, missing, len(stillMissing) == 0
}

// Literal returns the text when it has no placeholder: what Render
// returns, complete, whatever the variables, which the caller then need
// not gather.
func (r TemplateRenderer) Literal() (string, bool) { return r.literal, r.isLiteral }

// literalText is the template's text when it has no placeholder.
func (t ParsedTemplate) literalText() (string, bool) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.variable != "" {
			return "", false
		}
		b.WriteString(p.literal)
	}
	return b.String(), true
}

// FormatValue renders a variable value as reply text: numbers without
// exponent noise, strings as they are, amounts as "12.5 EUR".
func FormatValue(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if n, ok := x["value"].(float64); ok && len(x) <= 2 {
			if c, ok := x["currency"].(string); ok {
				return FormatValue(n) + " " + c
			}
			return FormatValue(n)
		}
		return fmt.Sprint(x)
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
