package domain

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Limits of a chat request's metadata, which the engine reads as meta.*.
const (
	// MaxMetadataKeys bounds the keys of the metadata object and of each
	// object in it, and the items of each list in it.
	MaxMetadataKeys = 32
	// MaxMetadataBytes bounds the metadata as JSON.
	MaxMetadataBytes = 16 << 10
)

// MetadataKeyRule says in words what metadataKey accepts.
const MetadataKeyRule = "letters, digits and '_', starting with a letter or '_', at most 64 characters"

// IsMetadataKey reports whether k may name a metadata entry: an
// identifier, so expressions can write meta.<key> and templates {meta.key}.
func IsMetadataKey(k string) bool { return variableName.MatchString(k) }

// ValidateMetadata checks request metadata: at most MaxMetadataKeys keys,
// each an identifier, each value a scalar (string, number, boolean, null),
// a list of scalars or an object of scalars (one level deep, so templates
// and expressions read meta.key or meta.key.field), and at most
// MaxMetadataBytes as JSON. Field errors name "metadata" or
// "metadata.<key>".
func ValidateMetadata(meta map[string]any) []FieldError {
	if meta == nil {
		return nil
	}
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	if b, err := json.Marshal(meta); err != nil || len(b) > MaxMetadataBytes {
		bad("metadata", fmt.Sprintf("must be a JSON object of at most %d bytes", MaxMetadataBytes))
	}
	if len(meta) > MaxMetadataKeys {
		bad("metadata", fmt.Sprintf("must have at most %d keys, not %d", MaxMetadataKeys, len(meta)))
		return errs
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if !IsMetadataKey(k) {
			bad("metadata", fmt.Sprintf("key %.70q must be %s", k, MetadataKeyRule))
			continue
		}
		errs = append(errs, validateMetadataValue("metadata."+k, meta[k])...)
	}
	return errs
}

// validateMetadataValue checks one top-level value: a scalar, a list of
// scalars or an object of scalars.
func validateMetadataValue(f string, value any) []FieldError {
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	switch v := value.(type) {
	case map[string]any:
		if len(v) > MaxMetadataKeys {
			bad(f, fmt.Sprintf("must have at most %d keys", MaxMetadataKeys))
		}
		for _, sub := range slices.Sorted(maps.Keys(v)) {
			if !IsMetadataKey(sub) {
				bad(f, fmt.Sprintf("key %.70q must be %s", sub, MetadataKeyRule))
			} else if !isScalar(v[sub]) {
				bad(f+"."+sub, "must be a string, number, boolean or null")
			}
		}
	case []any:
		if len(v) > MaxMetadataKeys {
			bad(f, fmt.Sprintf("must have at most %d items", MaxMetadataKeys))
		}
		for i, item := range v {
			if !isScalar(item) {
				bad(fmt.Sprintf("%s[%d]", f, i), "must be a string, number, boolean or null")
			}
		}
	default:
		if !isScalar(v) {
			bad(f, "must be a string, number, boolean, null, a list of those or an object of those")
		}
	}
	return errs
}

func isScalar(v any) bool {
	switch v.(type) {
	case nil, string, float64, bool, json.Number, int, int64:
		return true
	}
	return false
}
