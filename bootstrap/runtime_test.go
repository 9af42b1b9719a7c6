package bootstrap

import (
	"math"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// keepRuntime puts the process's collector settings back after a test that
// changes them.
func keepRuntime(t *testing.T) {
	percent := debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		replaceGCTuner(nil)
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("AUTOMEMLIMIT", "")
	require.NoError(t, os.Unsetenv("AUTOMEMLIMIT")) // t.Setenv restores it
}

func TestDefaultGCPercentIsTheTagsDefault(t *testing.T) {
	cfg, err := LoadConfigEnv("", map[string]string{"FOCAL_JWT_SECRET": strings.Repeat("s", 32)})
	require.NoError(t, err)
	assert.Equal(t, DefaultGCPercent, cfg.Runtime.GCPercent)
	h, err := parseByteSize(cfg.Runtime.GCHeadroom)
	require.NoError(t, err)
	assert.Equal(t, int64(DefaultGCHeadroom), h)
	assert.Equal(t, "auto", cfg.Runtime.MemoryLimit)
}

func TestApplyRuntimeSetsTheCollector(t *testing.T) {
	keepRuntime(t)
	s, err := ApplyRuntime(RuntimeConfig{GCHeadroom: "off", GCPercent: 300, MemoryLimit: "768MiB"}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, 300, debug.SetGCPercent(300))
	assert.Equal(t, int64(768<<20), debug.SetMemoryLimit(-1))
	assert.Equal(t, RuntimeSettings{GCPercent: 300, MemoryLimit: 768 << 20}, s)
}

// GOGC and GOMEMLIMIT are the Go runtime's own knobs: an operator who sets
// them gets them, whatever the configuration says.
func TestGoVariablesWinOverTheConfiguration(t *testing.T) {
	keepRuntime(t)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150) // what the runtime read from GOGC at start
	debug.SetMemoryLimit(1 << 30)
	s, err := ApplyRuntime(RuntimeConfig{GCHeadroom: "off", GCPercent: 300, MemoryLimit: "768MiB"}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, 150, debug.SetGCPercent(150))
	assert.Equal(t, int64(1<<30), debug.SetMemoryLimit(-1))
	assert.Equal(t, []string{"GOGC", "GOMEMLIMIT"}, s.FromEnvironment)
}

// auto is 90 % of the container's limit, or of the machine's memory.
func TestAutoMemoryLimitIsNinetyPercentOfWhatThereIs(t *testing.T) {
	keepRuntime(t)
	debug.SetMemoryLimit(math.MaxInt64)
	available, err := memlimit.FromCgroup()
	if err != nil {
		available, err = memlimit.FromSystem()
		require.NoError(t, err)
	}
	s, err := ApplyRuntime(RuntimeConfig{GCHeadroom: "off", GCPercent: 100, MemoryLimit: "auto"}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, int64(float64(available)*0.9), s.MemoryLimit)
	assert.Equal(t, s.MemoryLimit, debug.SetMemoryLimit(-1))
}

func TestOffSetsNoMemoryLimit(t *testing.T) {
	keepRuntime(t)
	debug.SetMemoryLimit(math.MaxInt64)
	s, err := ApplyRuntime(RuntimeConfig{GCHeadroom: "off", GCPercent: 100, MemoryLimit: "off"}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, int64(math.MaxInt64), s.MemoryLimit)
}

func TestRuntimeSettingsAreValidated(t *testing.T) {
	assert.NoError(t, RuntimeConfig{GCHeadroom: "256MiB", GCPercent: 100, MemoryLimit: "auto"}.Validate())
	// operations.md: the headroom and the memory limit are at least 64 MiB.
	assert.NoError(t, RuntimeConfig{GCHeadroom: "64MiB", GCPercent: 100, MemoryLimit: "auto"}.Validate())
	assert.Error(t, RuntimeConfig{GCHeadroom: "67108863", GCPercent: 100, MemoryLimit: "auto"}.Validate())
	assert.Error(t, RuntimeConfig{GCHeadroom: "off", GCPercent: 100, MemoryLimit: "67108863"}.Validate())
	for _, h := range []string{"", "1MiB", "lots"} {
		assert.Error(t, RuntimeConfig{GCHeadroom: h, GCPercent: 100, MemoryLimit: "auto"}.Validate(), h)
	}
	for _, ok := range []RuntimeConfig{{GCHeadroom: "off", GCPercent: 25, MemoryLimit: "auto"}, {GCHeadroom: "off", GCPercent: 2000, MemoryLimit: "off"},
		{GCHeadroom: "off", GCPercent: 100, MemoryLimit: "64MiB"}, {GCHeadroom: "off", GCPercent: 100, MemoryLimit: "2GiB"}, {GCHeadroom: "off", GCPercent: 100, MemoryLimit: "1073741824"}} {
		assert.NoError(t, ok.Validate(), "%+v", ok)
	}
	for _, bad := range []RuntimeConfig{{GCHeadroom: "off", GCPercent: 10, MemoryLimit: "auto"}, {GCHeadroom: "off", GCPercent: 5000, MemoryLimit: "auto"},
		{GCHeadroom: "off", GCPercent: 100, MemoryLimit: "1MiB"}, {GCHeadroom: "off", GCPercent: 100, MemoryLimit: "2GB"}, {GCHeadroom: "off", GCPercent: 100, MemoryLimit: "-5GiB"},
		{GCHeadroom: "off", GCPercent: 100, MemoryLimit: ""}, {GCHeadroom: "off", GCPercent: 100, MemoryLimit: "99999999999TiB"}} {
		assert.Error(t, bad.Validate(), "%+v", bad)
	}
}
