package application

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"focal/domain"
)

// parseJSONBundle reads a bundle that is JSON without yaml.v3, which
// builds a node of some 250 bytes for every value before any limit can be
// checked: a JSON body of empty rules cost 67 times its size that way.
// encoding/json checks the syntax (json.Valid, which allocates nothing);
// one pass over the checked bytes then makes every check
// ParseBundleWithin makes on the YAML path, in the same order and with
// the same messages, keeping nothing but counts, keys and errors; the
// bytes are then decoded straight into the policy. json.Decoder.Token
// would have done for the pass but allocates for every string and number,
// 30 times a list of one-letter examples; in checked JSON a token ends at
// a quote or a delimiter, which is all the pass looks for. ok is false
// for a body that is not JSON (or not UTF-8, which yaml.v3 refuses): the
// YAML path reads it.
func parseJSONBundle(data []byte, limits domain.PolicyLimits) (p *domain.Policy, err error, ok bool) {
	first := bytes.TrimLeft(data, " \t\r\n")
	if len(first) == 0 || first[0] != '{' && first[0] != '[' || !utf8.Valid(data) || !json.Valid(data) {
		return nil, nil, false
	}
	w := &jsonBundleWalk{data: data, list: longestItemList(limits), limits: limits, line: 1,
		fields: map[reflect.Type]map[string]reflect.Type{}}
	dups, mapping := w.root()
	switch {
	case w.refusal != nil:
		return nil, w.refusal, true
	case len(dups) > 0:
		if len(dups) > maxDuplicateKeys {
			dups = append(dups[:maxDuplicateKeys], "and more")
		}
		return nil, bundleError("bundle is not valid YAML or JSON: yaml: unmarshal errors:\n  " + strings.Join(dups, "\n  ")), true
	case !mapping:
		return nil, bundleError("bundle must be a mapping with agent, rules, scenarios, templates and tools"), true
	case w.unknownCount > 0:
		errs := make([]domain.FieldError, len(w.unknown))
		for i, field := range w.unknown {
			errs[i] = domain.FieldError{Field: field, Message: "is not a known bundle field"}
		}
		return nil, unknownFieldsError(errs, w.unknownCount), true
	}
	p, err = decodePolicy(w.yamlNumbers())
	return p, err, true
}

// jsonBundleWalk is one pass over a JSON bundle that json.Valid passed.
type jsonBundleWalk struct {
	data   []byte
	pos    int
	line   int // of data[pos]
	limits domain.PolicyLimits
	list   int // longestItemList
	// refusal is checkTree's refusal: the one of the node that starts
	// first, as checkTree checks each node before those below it.
	refusal   error
	refusedAt int
	// doomed is set once a list or mapping is over its limit: the walk
	// then only counts, as no other error will be reported.
	doomed bool
	// duplicates counts the duplicate-key errors found.
	duplicates int
	// unknown are the first maxUnknownFields unknown fields' paths in
	// unknownFields' order, of unknownCount: each object sorts those below
	// it by its keys when it ends, and each object and list keeps the
	// first maxUnknownFields of its own.
	unknown      []string
	unknownCount int
	path         []pathStep
	keys         []keyLine // the keys of the objects being walked
	spans        []keySpan // their unknown fields
	scratch      []byte
	sorted       []string
	fields       map[reflect.Type]map[string]reflect.Type
	// numbers are the literals yaml.v3 reads as another number than
	// encoding/json would (1.0 as the int 1): they are written as the
	// YAML path's json.Marshal writes them before decoding.
	numbers []numberRewrite
}

type pathStep struct {
	key   []byte // quoted, as in the body; nil for an index
	index int
}

type keyLine struct {
	key  []byte // quoted
	line int
}

type numberRewrite struct {
	at, end int
	with    string
}

// root walks the whole body: dups are yaml.v3's duplicate-key errors,
// mapping whether the body is an object.
func (w *jsonBundleWalk) root() (dups []string, mapping bool) {
	if w.peek() == '{' {
		return w.object(reflect.TypeFor[domain.Policy](), true), true
	}
	return w.array(nil, w.list, ""), false
}

// peek skips white space and returns the byte that follows.
func (w *jsonBundleWalk) peek() byte {
	for ; w.pos < len(w.data); w.pos++ {
		switch c := w.data[w.pos]; c {
		case '\n':
			w.line++
		case ' ', '\t', '\r':
		default:
			return c
		}
	}
	return 0
}

// quoted reads a string, quotes included.
func (w *jsonBundleWalk) quoted() []byte {
	from := w.pos
	for w.pos++; w.data[w.pos] != '"'; w.pos++ {
		if w.data[w.pos] == '\\' {
			w.pos++
		}
	}
	w.pos++
	return w.data[from:w.pos]
}

// value walks one value; t is the Go type it decodes into, nil where no
// field is checked below it (an unknown key, a free-form value).
func (w *jsonBundleWalk) value(t reflect.Type, limit int, named string) []string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch w.peek() {
	case '{':
		return w.object(t, false)
	case '[':
		return w.array(t, limit, named)
	case '"':
		w.quoted()
		return nil
	}
	from := w.pos
	for w.pos < len(w.data) && !endsLiteral(w.data[w.pos]) {
		w.pos++
	}
	if c := w.data[from]; c == '-' || c >= '0' && c <= '9' {
		w.number(w.data[from:w.pos], from)
	}
	return nil
}

// endsLiteral is whether c ends a number, true, false or null.
func endsLiteral(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// object walks an object at '{'. top is the bundle's own mapping, whose
// lists have their own limits.
func (w *jsonBundleWalk) object(t reflect.Type, top bool) []string {
	at, line := w.pos, w.line
	w.pos++
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = w.fieldsOf(t)
	}
	keysFrom, unknownFrom, spansFrom := len(w.keys), len(w.unknown), len(w.spans)
	var below []string
	n := 0
	for c := w.peek(); c != '}'; c = w.peek() {
		if c == ',' {
			w.pos++
			continue
		}
		key := w.quoted()
		if n++; n > MaxBundleMappingKeys {
			w.doomed = true
		}
		if n <= MaxBundleMappingKeys+1 {
			w.keys = append(w.keys, keyLine{key, w.line})
		}
		w.peek()
		w.pos++ // ':'
		from := len(w.unknown)
		ft, known := fields[string(key[1:len(key)-1])]
		if fields != nil && (!known || bytes.IndexByte(key, '\\') >= 0) {
			ft, known = fields[unquote(key)]
		}
		if fields != nil && !known && !w.doomed {
			w.unknown = append(w.unknown, w.field(key))
			w.unknownCount++
		}
		below = append(below, w.member(key, ft, top)...)
		if len(w.unknown) > from {
			w.spans = append(w.spans, keySpan{key, from, len(w.unknown)})
		}
	}
	w.pos++
	keys := w.keys[keysFrom:]
	w.keys = w.keys[:keysFrom]
	if n > MaxBundleMappingKeys {
		w.refuse(at, mappingTooLarge(n, line))
	}
	w.sortUnknown(unknownFrom, w.spans[spansFrom:])
	w.spans = w.spans[:spansFrom]
	w.unknown = w.unknown[:min(len(w.unknown), unknownFrom+maxUnknownFields)]
	if own := w.duplicateKeys(keys); len(own) > 0 {
		return own // yaml.v3 decodes nothing below a mapping with a duplicate key
	}
	return below
}

// member walks the value of key, of type t.
func (w *jsonBundleWalk) member(key []byte, t reflect.Type, top bool) []string {
	limit, named := w.list, ""
	if top {
		if f, ok := bundleLists[unquote(key)]; ok {
			limit, named = f(w.limits), unquote(key)
		}
	}
	w.path = append(w.path, pathStep{key: key})
	dups := w.value(t, limit, named)
	w.path = w.path[:len(w.path)-1]
	return dups
}

// array walks an array at '[': a list of at most limit items (named: the
// top-level field it is, if any).
func (w *jsonBundleWalk) array(t reflect.Type, limit int, named string) []string {
	at, line := w.pos, w.line
	w.pos++
	var elem reflect.Type
	if t != nil && t.Kind() == reflect.Slice {
		elem = t.Elem()
	}
	var below []string
	n, unknownFrom := 0, len(w.unknown)
	for c := w.peek(); c != ']'; c = w.peek() {
		if c == ',' {
			w.pos++
			continue
		}
		w.path = append(w.path, pathStep{index: n})
		below = append(below, w.value(elem, w.list, "")...)
		w.path = w.path[:len(w.path)-1]
		if n++; n > limit {
			w.doomed = true
		}
		w.unknown = w.unknown[:min(len(w.unknown), unknownFrom+maxUnknownFields)]
	}
	w.pos++
	if n > limit {
		w.refuse(at, listTooLong(n, line, limit, named))
	}
	return below
}

// refuse keeps the refusal of the node that starts first.
func (w *jsonBundleWalk) refuse(at int, err error) {
	if w.refusal == nil || at < w.refusedAt {
		w.refusal, w.refusedAt = err, at
	}
}

// fieldsOf is jsonFields, once per type.
func (w *jsonBundleWalk) fieldsOf(t reflect.Type) map[string]reflect.Type {
	f, ok := w.fields[t]
	if !ok {
		f = jsonFields(t)
		w.fields[t] = f
	}
	return f
}

// field is the path of key below the current one, as unknownFields
// writes it.
func (w *jsonBundleWalk) field(key []byte) string {
	b := w.scratch[:0] // reused: only the path itself is kept
	for _, s := range w.path {
		if s.key == nil {
			b = strconv.AppendInt(append(b, '['), int64(s.index), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, unquote(s.key)...)
	}
	if len(b) > 0 {
		b = append(b, '.')
	}
	w.scratch = append(b, unquote(key)...)
	return string(w.scratch)
}

// keySpan is the unknown fields found at or below one key of an object.
type keySpan struct {
	key      []byte // quoted
	from, to int
}

// sortUnknown puts the unknown fields found below an object since from
// in the order of its keys, as unknownFields visits them.
func (w *jsonBundleWalk) sortUnknown(from int, spans []keySpan) {
	if len(spans) < 2 {
		return
	}
	slices.SortStableFunc(spans, func(a, b keySpan) int {
		if bytes.IndexByte(a.key, '\\') < 0 && bytes.IndexByte(b.key, '\\') < 0 {
			return bytes.Compare(a.key[1:len(a.key)-1], b.key[1:len(b.key)-1])
		}
		return strings.Compare(unquote(a.key), unquote(b.key))
	})
	w.sorted = w.sorted[:0]
	for _, s := range spans {
		w.sorted = append(w.sorted, w.unknown[s.from:s.to]...)
	}
	copy(w.unknown[from:], w.sorted)
}

// unquote is a JSON string's value.
func unquote(quoted []byte) string {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1 : len(quoted)-1])
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // json.Valid passed
	return s
}

// maxDuplicateKeys bounds the duplicate-key errors kept: yaml.v3 reports
// every pair, and a mapping of one key a hundred times is 4,950 pairs.
const maxDuplicateKeys = 100

// duplicateKeys is yaml.v3's check of a mapping's keys, in its order and
// words, keeping at most maxDuplicateKeys errors in all.
func (w *jsonBundleWalk) duplicateKeys(keys []keyLine) []string {
	var errs []string
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if !sameKey(a.key, b.key) {
				continue
			}
			if w.duplicates++; w.duplicates > maxDuplicateKeys {
				return append(errs, "and more")
			}
			errs = append(errs, fmt.Sprintf("line %d: mapping key %#v already defined at line %d", b.line, unquote(b.key), a.line))
		}
	}
	return errs
}

// sameKey is whether two quoted keys are the same string.
func sameKey(a, b []byte) bool {
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return bytes.Equal(a, b)
	}
	return unquote(a) == unquote(b)
}

// number notes a number literal that yaml.v3 would read as another value
// than encoding/json: the YAML path decodes what json.Marshal writes of
// yaml.v3's value (1.0 is the int 1, 1e400 a string).
func (w *jsonBundleWalk) number(literal []byte, at int) {
	if len(literal) < 19 && !bytes.ContainsAny(literal, ".eE") && !bytes.HasPrefix(literal, []byte("-0")) {
		return // an int64 both read alike
	}
	lit := string(literal)
	var with []byte
	if i, err := strconv.ParseInt(lit, 0, 64); err == nil {
		with = strconv.AppendInt(nil, i, 10)
	} else if u, err := strconv.ParseUint(lit, 0, 64); err == nil {
		with = strconv.AppendUint(nil, u, 10)
	} else if f, err := strconv.ParseFloat(lit, 64); err == nil {
		with, _ = json.Marshal(f)
	} else {
		with, _ = json.Marshal(lit)
	}
	if string(with) != lit {
		w.numbers = append(w.numbers, numberRewrite{at: at, end: at + len(literal), with: string(with)})
	}
}

// yamlNumbers is the body with the numbers rewritten (see number).
func (w *jsonBundleWalk) yamlNumbers() []byte {
	if len(w.numbers) == 0 {
		return w.data
	}
	out := make([]byte, 0, len(w.data))
	from := 0
	for _, n := range w.numbers {
		out = append(append(out, w.data[from:n.at]...), n.with...)
		from = n.end
	}
	return append(out, w.data[from:]...)
}
