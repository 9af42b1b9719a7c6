package application

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

const bundleHead = "agent: {id: 6ba7b810-9dad-11d1-80b4-00c04fd430c8, name: a}\n"

func TestBundleAnchorsAndAliasesAreRefusedWithTheirLine(t *testing.T) {
	for _, tt := range []struct{ name, yaml string }{
		{"alias", bundleHead + "rules:\n  - {id: a, condition: &c hello, action: x}\n  - {id: b, condition: *c, action: y}\n"},
		{"merge key", bundleHead + "templates:\n  - &t {id: a, text: hi, mode: suggest}\n  - {<<: *t, id: b}\n"},
		{"anchor alone", bundleHead + "tools: &none []\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBundle([]byte(tt.yaml))
			require.Error(t, err)
			assert.Equal(t, domain.CodeInvalidRequest, domain.ErrorCodeOf(err))
			assert.Contains(t, err.Error(), "YAML anchor or alias at line")
		})
	}
	_, err := ParseBundle([]byte(bundleHead + "rules:\n  - {id: a, condition: &c hello, action: x}\n"))
	assert.ErrorContains(t, err, "at line 3")
}
