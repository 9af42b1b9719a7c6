package domain

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validateVariables checks the declarations: names, types, the fields
// each type takes, patterns within the limits and initial values of the
// declared type.
func (v *validator) variables(vars []Variable) {
	seen := map[string]bool{}
	for i := range vars {
		f := fmt.Sprintf("variables[%d]", i)
		x := &vars[i]
		switch {
		case !IsVariableName(x.Name):
			v.add(f+".name", "must be 1..64 letters, digits or '_', starting with a letter or '_'")
		case slices.Contains(BuiltinVariables, x.Name) || x.Name == "meta":
			v.add(f+".name", x.Name+" is a built-in name")
		case seen[x.Name]:
			v.add(f+".name", "duplicate variable "+x.Name)
		}
		seen[x.Name] = true
		v.variable(f, x)
	}
}

func (v *validator) variable(f string, x *Variable) {
	before := len(v.errs)
	v.text(f+".description", x.Description, 0, maxNameLength)
	v.text(f+".hint", x.Hint, 0, maxNameLength)
	only := func(field string, set bool, types ...VariableType) {
		if set && !slices.Contains(types, x.Type) {
			names := make([]string, len(types))
			for i, t := range types {
				names[i] = string(t)
			}
			v.add(f+"."+field, "applies only to "+strings.Join(names, " and ")+" variables")
		}
	}
	only("values", len(x.Values) > 0, VarEnum)
	only("pattern", x.Pattern != "", VarPattern)
	only("normalize", x.Normalize != "", VarPattern)
	only("valid", x.Valid != "", VarPattern)
	only("currency", x.Currency != "", VarAmount)
	only("date_order", x.DateOrder != "", VarDate)
	only("min", x.Min != nil, VarNumber, VarAmount)
	only("max", x.Max != nil, VarNumber, VarAmount)
	switch x.Type {
	case VarEnum:
		v.enumValues(f, x.Values)
	case VarPattern:
		v.variablePattern(f, x)
	case VarAmount:
		if x.Currency != "" && !isoCurrency.MatchString(x.Currency) {
			v.add(f+".currency", "must be an ISO 4217 code such as EUR")
		}
	case VarDate:
		if x.DateOrder != "" && x.DateOrder != DateOrderDMY && x.DateOrder != DateOrderMDY {
			v.add(f+".date_order", "must be dmy or mdy")
		}
	case VarText, VarNumber, VarBoolean, VarEmail, VarPhone:
	default:
		names := make([]string, len(VariableTypes))
		for i, t := range VariableTypes {
			names[i] = string(t)
		}
		v.add(f+".type", "must be one of "+strings.Join(names, ", "))
	}
	if x.Min != nil && x.Max != nil && *x.Min > *x.Max {
		v.add(f+".min", "must not be more than max")
	}
	if x.FromMetadata != "" && !IsMetadataKey(x.FromMetadata) {
		v.add(f+".from_metadata", "must be a metadata key: "+MetadataKeyRule)
	}
	if x.Initial != nil && len(v.errs) == before {
		v.initial(f, x)
	}
}

// initial checks an initial value against its declaration. A date must be
// written YYYY-MM-DD: there is no turn for "tomorrow" to count from.
func (v *validator) initial(f string, x *Variable) {
	if x.Type == VarDate {
		if s, ok := x.Initial.(string); !ok || !validISODate(s) {
			v.add(f+".initial", "must be a date written YYYY-MM-DD")
		}
		return
	}
	ex, err := NewExtractor(*x)
	if err == nil {
		_, err = ex.Check(x.Initial, time.Time{})
	}
	if err != nil {
		v.add(f+".initial", err.Error())
	}
}

func validISODate(s string) bool {
	_, err := time.Parse(DateLayout, s)
	return err == nil
}

// enumValues checks an enum's choices: at least one, unique, and no
// phrase naming two of them.
func (v *validator) enumValues(f string, values []EnumValue) {
	if len(values) == 0 {
		v.add(f+".values", "must list at least one value of an enum variable")
		return
	}
	total := 0
	names := map[string]string{} // a phrase's stems → the value it names
	for i, ev := range values {
		vf := fmt.Sprintf("%s.values[%d]", f, i)
		total += 1 + len(ev.Synonyms)
		if ev.Value == "" || len(ev.Value) > maxIDLength || !policyID.MatchString(ev.Value) {
			v.add(vf+".value", fmt.Sprintf("must be 1..%d characters of letters, digits, '_', '.', ':' or '-'", maxIDLength))
			continue
		}
		phrases := append([]string{strings.NewReplacer("_", " ", "-", " ").Replace(ev.Value)}, ev.Synonyms...)
		for k, ph := range phrases {
			where := vf + ".value"
			if k > 0 {
				where = fmt.Sprintf("%s.synonyms[%d]", vf, k-1)
				v.text(where, ph, 1, maxNameLength)
			}
			stems := strings.Join(phraseStems(ph), " ")
			if stems == "" {
				v.add(where, "must contain a word")
				continue
			}
			if other, dup := names[stems]; dup && other != ev.Value {
				v.add(where, fmt.Sprintf("%q also names %s", ph, other))
			} else if dup && k == 0 {
				v.add(where, "duplicate value "+ev.Value)
			}
			names[stems] = ev.Value
		}
	}
	v.count(f+".values", total, v.limits.VariableValues, "variable_values")
}

// variablePattern checks a pattern variable's pattern, normaliser and
// valid form.
func (v *validator) variablePattern(f string, x *Variable) {
	if x.Pattern == "" {
		v.add(f+".pattern", "is required for a pattern variable")
		return
	}
	_, empty, err := MeasurePattern(x.Pattern, v.limits.PatternBytes, v.limits.PatternProgram)
	switch {
	case err != nil:
		v.add(f+".pattern", err.Error())
	case empty:
		v.add(f+".pattern", "must not match the empty text (it would find a value in every message)")
	case len(x.Normalize) > v.limits.PatternBytes:
		v.add(f+".normalize", fmt.Sprintf("must be at most %d bytes (policy limit pattern_bytes)", v.limits.PatternBytes))
	default:
		if msg := checkExpansion(x.Pattern, x.Normalize); msg != "" {
			v.add(f+".normalize", msg)
		}
	}
	if x.Valid != "" {
		if _, _, err := MeasurePattern(x.Valid, v.limits.PatternBytes, v.limits.PatternProgram); err != nil {
			v.add(f+".valid", err.Error())
		}
	}
}

// expansionRef is a $1, $name or ${name} of a regexp expansion template.
var expansionRef = regexp.MustCompile(`\$(?:\{([^}]*)\}|([A-Za-z0-9_]+)|\$)`)

// checkExpansion says what in a normaliser refers to no group of the
// pattern, or "".
func checkExpansion(pattern, tmpl string) string {
	re, err := syntax.Parse(pattern, patternFlags)
	if err != nil {
		return ""
	}
	groups, names := re.MaxCap(), re.CapNames()
	for _, m := range expansionRef.FindAllStringSubmatch(tmpl, -1) {
		ref := m[1] + m[2]
		if m[0] == "$$" {
			continue
		}
		if n, err := strconv.Atoi(ref); err == nil {
			if n > groups {
				return fmt.Sprintf("$%s refers to group %d, but the pattern has %d", ref, n, groups)
			}
			continue
		}
		if ref == "" || !slices.Contains(names, ref) {
			return fmt.Sprintf("%s refers to no group of the pattern (write ${1}x for group 1 followed by x)", m[0])
		}
	}
	return ""
}

// templateRefs checks that every placeholder of a template's text (or
// default) can have a value: a declared variable, a tool's declared
// output, a built-in, or a metadata key. A default text must say
// something whatever is unset, so its placeholders need a default of
// their own unless they are built-ins.
func (v *validator) templateRefs(f string, pt ParsedTemplate, settable map[string]bool, open, isDefault bool) {
	for _, ph := range pt.Placeholders() {
		if key, ok := strings.CutPrefix(ph.Name, MetaPrefix); ok {
			first, _, _ := strings.Cut(key, ".")
			if !IsMetadataKey(first) {
				v.add(f, fmt.Sprintf("{%s}: metadata keys are %s", ph.Name, MetadataKeyRule))
			}
		} else if first, _, _ := strings.Cut(ph.Name, "."); !settable[first] && !open {
			v.add(f, fmt.Sprintf("{%s} is nothing that can have a value: declare a variable %s, list it in a tool's outputs, "+
				"or use meta.<key> or a built-in (%s)", ph.Name, first, strings.Join(BuiltinVariables, ", ")))
		}
		if isDefault && !ph.HasDefault && !slices.Contains(BuiltinVariables, ph.Name) {
			v.add(f, fmt.Sprintf("{%s} may have no value, and a default text must never show a blank: give it a default of its own, {%s|...}", ph.Name, ph.Name))
		}
	}
}

// secretEnvName is the part of FOCAL_TOOL_SECRET_<name> a tool names.
var secretEnvName = regexp.MustCompile(`^[A-Z0-9_]{1,64}$`)

// Lengths of a tool's own secret.
const (
	minToolSecret = 16
	maxToolSecret = 256
)

// toolSecret checks how a tool's calls are signed.
func (v *validator) toolSecret(f string, t Tool) {
	switch {
	case t.Secret != "" && t.SecretEnv != "":
		v.add(f+".secret_env", "must be empty when secret is given")
	case t.Secret == Redacted:
		v.add(f+".secret", "is the placeholder that reads show: give the secret itself (a stored secret is kept when an export is imported over the same tool)")
	case t.Secret != "" && (len(t.Secret) < minToolSecret || len(t.Secret) > maxToolSecret):
		v.add(f+".secret", fmt.Sprintf("must be %d..%d bytes", minToolSecret, maxToolSecret))
	case t.SecretEnv != "" && !secretEnvName.MatchString(t.SecretEnv):
		v.add(f+".secret_env", "must be 1..64 upper-case letters, digits or '_': the service reads FOCAL_TOOL_SECRET_<secret_env>")
	}
}
