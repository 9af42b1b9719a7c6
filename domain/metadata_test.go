package domain_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"focal/domain"
)

func TestValidateMetadata(t *testing.T) {
	many := map[string]any{}
	for i := range domain.MaxMetadataKeys + 1 {
		many[fmt.Sprintf("k%d", i)] = i
	}
	list := make([]any, domain.MaxMetadataKeys+1)
	tests := []struct {
		name string
		meta map[string]any
		want []string // "field: part of the message"
	}{
		{"none", nil, nil},
		{"scalars, lists and objects of scalars", map[string]any{"tier": "gold", "age": 41.0, "vip": true, "note": nil,
			"tags": []any{"a", 1.0}, "customer": map[string]any{"first_name": "Ana", "orders": 3.0}}, nil},
		{"too many keys", many, []string{"metadata: must have at most 32 keys, not 33"}},
		{"key not an identifier", map[string]any{"first name": "Ana", "ok": 1.0}, []string{`metadata: key "first name" must be letters`}},
		{"nested object", map[string]any{"customer": map[string]any{"address": map[string]any{"city": "Oslo"}}},
			[]string{"metadata.customer.address: must be a string, number, boolean or null"}},
		{"object key not an identifier", map[string]any{"customer": map[string]any{"first-name": "Ana"}}, []string{`metadata.customer: key "first-name"`}},
		{"list of objects", map[string]any{"items": []any{map[string]any{"sku": "x"}}}, []string{"metadata.items[0]: must be a string"}},
		{"long list", map[string]any{"items": list}, []string{"metadata.items: must have at most 32 items"}},
		{"too large", map[string]any{"blob": strings.Repeat("x", domain.MaxMetadataBytes)}, []string{"metadata: must be a JSON object of at most 16384 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range domain.ValidateMetadata(tt.meta) {
				got = append(got, e.Field+": "+e.Message)
			}
			assert.Len(t, got, len(tt.want), "%v", got)
			for i := range min(len(got), len(tt.want)) {
				assert.Contains(t, got[i], tt.want[i])
			}
		})
	}
}

// docs/api.md (POST /v1/chat, metadata) documents the limits as numbers:
// at most 32 keys, each an identifier of at most 64 characters starting
// with a letter or '_', a list or an object of at most 32 scalars, and at
// most 16 KiB as JSON. Each is asserted as a literal from both sides: the
// documented number is taken and one more is refused.
func TestMetadataLimitsAreTheDocumentedNumbers(t *testing.T) {
	keys := func(n int) map[string]any {
		m := map[string]any{}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	// blob is metadata {"blob":"xx…"} of exactly n bytes as JSON.
	blob := func(n int) map[string]any {
		return map[string]any{"blob": strings.Repeat("x", n-len(`{"blob":""}`))}
	}
	tests := []struct {
		name string
		meta map[string]any
		want string // "" when taken, else "field: part of the message"
	}{
		{"a key of 64 characters", map[string]any{strings.Repeat("k", 64): 1.0}, ""},
		{"a key of 65 characters", map[string]any{strings.Repeat("k", 65): 1.0}, "metadata: key"},
		{"a key starting with '_'", map[string]any{"_tier": "gold"}, ""},
		{"a key starting with a digit", map[string]any{"1tier": "gold"}, "metadata: key"},
		{"32 keys", keys(32), ""},
		{"33 keys", keys(33), "metadata: must have at most 32 keys"},
		{"an object of 32 keys", map[string]any{"customer": keys(32)}, ""},
		{"an object of 33 keys", map[string]any{"customer": keys(33)}, "metadata.customer: must have at most 32 keys"},
		{"a list of 32 items", map[string]any{"tags": make([]any, 32)}, ""},
		{"a list of 33 items", map[string]any{"tags": make([]any, 33)}, "metadata.tags: must have at most 32 items"},
		{"16 KiB as JSON", blob(16 << 10), ""},
		{"16 KiB and a byte as JSON", blob(16<<10 + 1), "metadata: must be a JSON object of at most 16384 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := domain.ValidateMetadata(tt.meta)
			if tt.want == "" {
				assert.Empty(t, errs)
				return
			}
			if assert.Len(t, errs, 1, "%v", errs) {
				assert.Contains(t, errs[0].Field+": "+errs[0].Message, tt.want)
			}
		})
	}
	b, err := json.Marshal(blob(16 << 10))
	assert.NoError(t, err)
	assert.Len(t, b, 16384, "the 16 KiB case is exactly 16 KiB")
}
