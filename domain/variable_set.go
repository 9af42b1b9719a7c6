package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// VariableSet is an agent's declared variables, compiled: the extractors,
// compiled once per policy version. Immutable and safe for concurrent use.
type VariableSet struct {
	byName map[string]*Extractor
	order  []string // declaration order
}

// CompileVariables compiles the declarations of a validated policy.
func CompileVariables(vars []Variable) (*VariableSet, error) {
	s := &VariableSet{byName: make(map[string]*Extractor, len(vars))}
	for _, v := range vars {
		x, err := NewExtractor(v)
		if err != nil {
			return nil, err
		}
		s.byName[v.Name] = x
		s.order = append(s.order, v.Name)
	}
	return s, nil
}

// Get returns the extractor of the variable name, or nil.
func (s *VariableSet) Get(name string) *Extractor { return s.byName[name] }

// extractOrder is the order in which a message is read for several
// variables at once: the most specific readings first, so the text they
// claim ("AC-123456", "3 December") is not read again as a number.
var extractOrder = []VariableType{VarPattern, VarEmail, VarPhone, VarDate, VarAmount, VarEnum, VarBoolean, VarNumber, VarText}

// Extract reads the variables named from msg, deterministically, one
// Extraction per variable the message mentions (set or with its problem),
// in the order the names are given. The text one variable's mentions take
// is hidden from the variables read after it. A text variable takes the
// whole message, and only when it is the one variable asked for. Unknown
// names are ignored.
func (s *VariableSet) Extract(names []string, msg string, now time.Time) []Extraction {
	out, _ := s.read(names, msg, now)
	return out
}

// ExtractAhead is Extract of names, then a reading ahead of msg for the
// variables of ahead that may be read unasked (ReadsUnasked), in what
// names' mentions left of it: what the message gives a flow's later
// steps (or the step a move enters), besides what the step asked. Only
// the values read ahead are returned, not their problems: a message not
// asked for a variable does not offer it, so a reading of it that fails
// is nothing the customer meant to give, to be told about.
func (s *VariableSet) ExtractAhead(names, ahead []string, msg string, now time.Time) (read, early []Extraction) {
	read, rest := s.read(names, msg, now)
	var unasked []string
	for _, n := range ahead {
		if x := s.byName[n]; x != nil && x.ReadsUnasked() {
			unasked = append(unasked, n)
		}
	}
	if len(unasked) == 0 {
		return read, nil
	}
	found, _ := s.read(unasked, rest, now)
	for _, e := range found {
		if e.Problem == "" {
			early = append(early, e)
		}
	}
	return read, early
}

// read is Extract, returning also msg with the mentions read hidden.
func (s *VariableSet) read(names []string, msg string, now time.Time) ([]Extraction, string) {
	var asked []*Extractor
	for _, n := range names {
		if x := s.byName[n]; x != nil && !slices.Contains(asked, x) {
			asked = append(asked, x)
		}
	}
	byName := map[string]Extraction{}
	masked := msg
	for _, typ := range extractOrder {
		for _, x := range asked {
			if x.v.Type != typ || (typ == VarText && len(asked) > 1) {
				continue
			}
			c, spans, ok, err := x.extractSpan(masked, now)
			if !ok {
				continue
			}
			e := Extraction{Variable: x.v.Name, Source: SetByExtractor}
			if ee, isExtract := err.(*ExtractError); isExtract {
				e.Problem, e.Reason, e.Text = ee.Problem, ee.Reason, ee.Text
			} else {
				e.Value, e.Text = c.value, c.text
			}
			byName[x.v.Name] = e
			masked = mask(masked, spans)
		}
	}
	var out []Extraction
	for _, x := range asked {
		if e, ok := byName[x.v.Name]; ok {
			out = append(out, e)
		}
	}
	return out, masked
}

// mask blanks spans of s with spaces, keeping every byte offset.
func mask(s string, spans [][2]int) string {
	if len(spans) == 0 {
		return s
	}
	b := []byte(s)
	for _, sp := range spans {
		for i := sp[0]; i < sp[1]; i++ {
			b[i] = ' '
		}
	}
	return string(b)
}

// Initial returns the initial values of the variables that declare one, in
// their stored form (validation has checked they are valid).
func (s *VariableSet) Initial(now time.Time) map[string]any {
	out := map[string]any{}
	for _, name := range s.order {
		x := s.byName[name]
		if x.v.Initial == nil {
			continue
		}
		if v, err := x.Check(x.v.Initial, now); err == nil {
			out[name] = v
		}
	}
	return out
}

// ToolOutputs keeps the outputs of a tool's answer that the tool declares
// (all of them when it declares none), each output that names a declared
// variable checked against that variable's type and stored in its form.
// An invalid output fails the whole answer: the error names the output
// and what was wrong, and nothing of the answer is kept.
func (s *VariableSet) ToolOutputs(tool Tool, out map[string]any, now time.Time) (map[string]any, error) {
	kept := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if len(tool.Outputs) > 0 && !slices.Contains(tool.Outputs, k) {
			continue
		}
		v := out[k]
		if x := s.byName[k]; x != nil && v != nil {
			checked, err := x.Check(v, now)
			if err != nil {
				return nil, fmt.Errorf("its output %s is invalid: %s", k, strings.TrimSpace(err.Error()))
			}
			v = checked
		}
		kept[k] = v
	}
	return kept, nil
}
