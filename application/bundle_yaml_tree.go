package application

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"focal/domain"
)

// yamlTreeWalk reads a YAML bundle's node tree once, writing it as the
// JSON that json.Marshal writes of yaml.v3's decoding of the tree (keys
// sorted, numbers as Go writes them) and finding its unknown fields
// (unknownFieldList) on the way, in the same order. Decoding the tree
// into maps and lists first, marshalling them and walking them again for
// unknown fields cost some 20 times a bench bundle's size; this walk
// keeps only the JSON.
//
// It reads only what it can read exactly as yaml.v3 does: mappings whose
// keys are all plain strings, none twice, and no tags. On anything else
// (a duplicate key, a merge key, a key that is not a string, a tag, a
// value JSON cannot hold) it gives up, and yaml.v3's own decoding reads
// the tree and reports the error (decodeYAMLTree). Scalars other than
// strings, canonical integers, booleans and nulls are decoded one by one
// by yaml.v3.
type yamlTreeWalk struct {
	unknownFieldList
	out     bytes.Buffer
	enc     *json.Encoder // for the scalars written by encoding/json
	general bool          // the walk gave up: decodeYAMLTree reads the tree
	keys    []int         // the key positions of the mappings being walked, sorted
	value   any           // a scalar yaml.v3 decodes
}

// walkYAMLTree walks a bundle's tree (see yamlTreeWalk); ok is false when
// it gave up.
func walkYAMLTree(root *yaml.Node, size int) (w *yamlTreeWalk, ok bool) {
	w = &yamlTreeWalk{}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return w, false // refused by yaml.v3's decoding, or not a mapping
	}
	w.out.Grow(size)
	w.node(root.Content[0], reflect.TypeFor[domain.Policy]())
	return w, !w.general
}

// node writes n, which decodes into t (nil where no field is checked
// below it).
func (w *yamlTreeWalk) node(n *yaml.Node, t reflect.Type) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case w.general: // given up: nothing more is written
	case n.Style&yaml.TaggedStyle != 0:
		w.general = true
	case n.Kind == yaml.MappingNode:
		w.mapping(n, t)
	case n.Kind == yaml.SequenceNode:
		w.sequence(n, t)
	case n.Kind == yaml.ScalarNode:
		w.scalar(n)
	default:
		w.general = true
	}
}

// mapping writes a mapping with its keys sorted, as json.Marshal writes
// a map.
func (w *yamlTreeWalk) mapping(n *yaml.Node, t reflect.Type) {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = w.fieldsOf(t)
	}
	from := len(w.keys)
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" || k.Style&yaml.TaggedStyle != 0 {
			w.general = true // a merge key, or a key that is not a string
			return
		}
		w.keys = append(w.keys, i)
	}
	keys := w.keys[from:]
	if !sortKeys(n.Content, keys) {
		w.general = true // yaml.v3 reports the duplicate key
		return
	}
	w.out.WriteByte('{')
	for j, i := range keys {
		if j > 0 {
			w.out.WriteByte(',')
		}
		key := n.Content[i].Value
		w.str(key)
		w.out.WriteByte(':')
		ft, known := fields[key]
		if fields != nil && !known {
			w.add(key)
		}
		w.path = append(w.path, treeStep{key: key, index: -1})
		w.node(n.Content[i+1], ft)
		w.path = w.path[:len(w.path)-1]
	}
	w.out.WriteByte('}')
	w.keys = w.keys[:from]
}

// sortKeys sorts the positions of a mapping's keys by key, and reports
// whether no key is there twice. A mapping has at most
// MaxBundleMappingKeys keys (checkTree).
func sortKeys(content []*yaml.Node, keys []int) bool {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0; j-- {
			a, b := content[keys[j-1]].Value, content[keys[j]].Value
			if a == b {
				return false
			}
			if a < b {
				break
			}
			keys[j-1], keys[j] = keys[j], keys[j-1]
		}
	}
	return true
}

// sequence writes a list.
func (w *yamlTreeWalk) sequence(n *yaml.Node, t reflect.Type) {
	var elem reflect.Type
	if t != nil && t.Kind() == reflect.Slice {
		elem = t.Elem()
	}
	w.out.WriteByte('[')
	for i, item := range n.Content {
		if i > 0 {
			w.out.WriteByte(',')
		}
		w.path = append(w.path, treeStep{index: i})
		w.node(item, elem)
		w.path = w.path[:len(w.path)-1]
	}
	w.out.WriteByte(']')
}

// scalar writes a scalar as json.Marshal writes yaml.v3's value of it.
func (w *yamlTreeWalk) scalar(n *yaml.Node) {
	switch {
	case n.Tag == "!!str":
		w.str(n.Value)
	case n.Tag == "!!null":
		w.out.WriteString("null")
	case n.Tag == "!!bool":
		// yaml.v3 reads only true, True, TRUE and the same of false as
		// booleans.
		w.out.WriteString(strconv.FormatBool(n.Value[0] == 't' || n.Value[0] == 'T'))
	case n.Tag == "!!int" && canonicalInt(n.Value):
		w.out.WriteString(n.Value)
	default:
		w.value = nil
		if err := n.Decode(&w.value); err != nil {
			w.general = true
			return
		}
		w.encode(w.value)
	}
}

// canonicalInt is whether s is an int64 as strconv writes it, which
// yaml.v3 reads as that int and json.Marshal writes back as s.
func canonicalInt(s string) bool {
	digits := s
	if len(s) > 0 && s[0] == '-' {
		digits = s[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || digits[0] == '0' && (len(digits) > 1 || len(s) > 1) {
		return false
	}
	for i := range len(digits) {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// str writes s as a JSON string: as it is when json.Marshal would not
// escape any of it.
func (w *yamlTreeWalk) str(s string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				w.encode(s)
				return
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			w.encode(s)
			return
		}
		i += size
	}
	w.out.WriteByte('"')
	w.out.WriteString(s)
	w.out.WriteByte('"')
}

// encode writes v as json.Marshal does.
func (w *yamlTreeWalk) encode(v any) {
	if w.enc == nil {
		w.enc = json.NewEncoder(&w.out)
	}
	if err := w.enc.Encode(v); err != nil {
		w.general = true // a value JSON cannot hold: decodeYAMLTree reports it
		return
	}
	w.out.Truncate(w.out.Len() - 1) // Encode ends each value with a line feed
}

// sizedPolicy is a zero policy whose lists have room for the items of
// the lists of top, a bundle's mapping, so that decoding does not grow
// them item by item: 10,000 rules grown by doubling cost 4 times a bench
// bundle's size. Only a list of items is made: a missing or empty one
// decodes as it would into a zero policy.
func sizedPolicy(top *yaml.Node) *domain.Policy {
	var p domain.Policy
	for i := 0; i+1 < len(top.Content); i += 2 {
		list := top.Content[i+1]
		n := len(list.Content)
		if list.Kind != yaml.SequenceNode || n == 0 {
			continue
		}
		switch top.Content[i].Value {
		case "variables":
			p.Variables = make([]domain.Variable, 0, n)
		case "rules":
			p.Rules = make([]domain.Rule, 0, n)
		case "scenarios":
			p.Scenarios = make([]domain.Scenario, 0, n)
		case "templates":
			p.Templates = make([]domain.Template, 0, n)
		case "tools":
			p.Tools = make([]domain.Tool, 0, n)
		}
	}
	return &p
}
