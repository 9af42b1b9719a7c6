package domain_test

import (
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
