package application

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// WrongJSONType says what a field given a JSON value of the wrong type
// must be, and what it was given: "must be an integer (number 1.5
// given)": 1.5, 1e3 and a number past 64 bits are numbers, but not the
// integer the field takes.
func WrongJSONType(e *json.UnmarshalTypeError) string {
	return fmt.Sprintf("must be %s (%s given)", jsonKind(e.Type), e.Value)
}

func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a valid value"
}
