package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goRuntimeSettings reads the collector's percent and the soft memory
// limit a running focal reports on /metrics.
func goRuntimeSettings(t *testing.T, base string) (percent, limit string) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	read := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		require.NotNil(t, m, "%s is not on /metrics", name)
		return string(m[1])
	}
	return read("go_gc_gogc_percent"), read("go_gc_gomemlimit_bytes")
}

// `focal serve` runs with the configured collector settings (docs/operations.md, Go runtime).
func TestServeAppliesTheGoRuntimeSettings(t *testing.T) {
	base := startBinary(t, "GOGC=", "GOMEMLIMIT=", "FOCAL_GC_HEADROOM=off", "FOCAL_GC_PERCENT=300", "FOCAL_MEMORY_LIMIT=768MiB")
	percent, limit := goRuntimeSettings(t, base)
	assert.Equal(t, "300", percent)
	assert.Equal(t, "8.05306368e+08", limit)
}

// By default the collector lets the heap grow 128 MiB over what it kept:
// a freshly started focal keeps a few MiB, so its percent is far above
// the floor of 100 (docs/operations.md, FOCAL_GC_HEADROOM).
func TestServeCollectsWithAHeadroomByDefault(t *testing.T) {
	base := startBinary(t, "GOGC=", "GOMEMLIMIT=")
	percent, _ := goRuntimeSettings(t, base)
	p, err := strconv.ParseFloat(percent, 64)
	require.NoError(t, err)
	assert.Greater(t, p, 1000.0, "128 MiB over a heap of a few MiB is well over 1000 %")
}

// GOGC and GOMEMLIMIT, when set, win over FOCAL_GC_PERCENT and FOCAL_MEMORY_LIMIT.
func TestGoRuntimeVariablesWinOverTheConfiguration(t *testing.T) {
	base := startBinary(t, "GOGC=150", "GOMEMLIMIT=1GiB", "FOCAL_GC_PERCENT=300", "FOCAL_MEMORY_LIMIT=768MiB")
	percent, limit := goRuntimeSettings(t, base)
	assert.Equal(t, "150", percent)
	assert.Equal(t, "1.073741824e+09", limit)
}
