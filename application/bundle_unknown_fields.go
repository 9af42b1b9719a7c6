package application

import (
	"reflect"
	"slices"
	"strconv"

	"focal/domain"
)

// unknownFieldList finds a bundle's unknown fields: the keys of its
// mappings that the Go type each decodes into has no field for, at any
// depth, in the order of a walk with each mapping's keys sorted. It keeps
// the first maxUnknownFields with their paths (rules[3].colour) and counts
// the rest; a path is written only for a field kept, not for every list
// item and key on the way, which cost more than the bundle itself.
type unknownFieldList struct {
	unknown []domain.FieldError
	count   int
	path    []treeStep // to the value being walked
	fields  map[reflect.Type]map[string]reflect.Type
	scratch []byte
	names   []string // the sorted keys of the mappings being walked
}

// treeStep is one step of the path to a value: a key, or an index (-1
// for a key).
type treeStep struct {
	key   string
	index int
}

// in walks a decoded JSON value beside the Go type t it decodes into.
func (u *unknownFieldList) in(doc any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		items, _ := doc.([]any)
		for i, item := range items {
			u.path = append(u.path, treeStep{index: i})
			u.in(item, t.Elem())
			u.path = u.path[:len(u.path)-1]
		}
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return // not an object (a time, or a type error ParseBundle reported)
		}
		fields := u.fieldsOf(t)
		from := len(u.names)
		for key := range obj {
			u.names = append(u.names, key)
		}
		keys := u.names[from:]
		slices.Sort(keys)
		for _, key := range keys {
			ft, known := fields[key]
			if !known {
				u.add(key)
				continue
			}
			u.path = append(u.path, treeStep{key: key, index: -1})
			u.in(obj[key], ft)
			u.path = u.path[:len(u.path)-1]
		}
		u.names = u.names[:from]
	}
}

// add counts key, not a field of the mapping's type, and keeps its path
// while fewer than maxUnknownFields are kept.
func (u *unknownFieldList) add(key string) {
	if u.count++; len(u.unknown) == maxUnknownFields {
		return
	}
	b := u.scratch[:0] // reused: only the path itself is kept
	for _, s := range u.path {
		if s.index >= 0 {
			b = strconv.AppendInt(append(b, '['), int64(s.index), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, s.key...)
	}
	if len(b) > 0 {
		b = append(b, '.')
	}
	u.scratch = append(b, key...)
	u.unknown = append(u.unknown, domain.FieldError{Field: string(u.scratch), Message: "is not a known bundle field"})
}

// fieldsOf is jsonFields, once per type.
func (u *unknownFieldList) fieldsOf(t reflect.Type) map[string]reflect.Type {
	f, ok := u.fields[t]
	if !ok {
		if u.fields == nil {
			u.fields = map[reflect.Type]map[string]reflect.Type{}
		}
		f = jsonFields(t)
		u.fields[t] = f
	}
	return f
}
