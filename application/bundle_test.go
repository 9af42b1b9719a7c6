package application

import (
	"fmt"
	"runtime"
	"strings"
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

// One 1 MiB anchored string aliased 10,000 times is a 1 MB document that
// would expand to 10 GB; it is refused before anything is expanded.
func TestBundleAliasBombIsRefusedCheaply(t *testing.T) {
	var b strings.Builder
	b.WriteString(bundleHead)
	fmt.Fprintf(&b, "templates:\n  - {id: big, mode: suggest, text: &big %s}\n", strings.Repeat("x", 1<<20))
	b.WriteString("rules:\n")
	for i := range 10_000 {
		fmt.Fprintf(&b, "  - {id: r%d, condition: *big, action: *big}\n", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ParseBundle([]byte(b.String()))
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<20), "parsing allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
}
