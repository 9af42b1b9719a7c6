package alignment

import "testing"

// docs/operations.md's memory bounds table states these numbers; the
// tests of each cache check that it holds to its constant, this that the
// constants are the numbers stated.
func TestOperationsDocStatesTheEngineCaches(t *testing.T) {
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"compiled policies (versions)", compiledCacheSize, 512},
		{"compiled policies (bytes)", compiledCacheBytes, 512 << 20},
		{"estimated bytes per byte of policy text", compiledPerTextByte, 40},
		{"policies compiled at once", compileSlots, 2},
		{"policies compiled for turn records (versions)", recordCacheSize, 8},
		{"policies compiled for turn records (bytes)", recordCacheBytes, 64 << 20},
		{"compiled expression programs", expressionCacheSize, 4096},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, operations.md says %d", c.what, c.got, c.want)
		}
	}
}
