package bootstrap

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/caarlos0/env/v11"
	"go.uber.org/zap"
)

// DefaultGCPercent is FOCAL_GC_PERCENT's default (its envDefault tag says
// the same; TestDefaultGCPercentIsTheTagsDefault keeps them together).
// make bench runs the bare gin ceiling with Focal's defaults too, so both
// sides of its ratios collect alike.
const DefaultGCPercent = 100

// RuntimeConfig tunes the Go runtime of `focal serve`. The standard GOGC
// and GOMEMLIMIT variables, when set, win over these.
type RuntimeConfig struct {
	// GCHeadroom is how far the heap may grow over what the last
	// collection kept before the next one starts, in bytes, however much
	// that is (see gc_headroom.go); "off" leaves GCPercent alone in charge,
	// as GOGC. A turn allocates tens of KB and keeps little, so at Go's
	// own 100 over a small heap a busy process collects many times a
	// second and the mark workers take the CPU the requests need.
	GCHeadroom string `env:"GC_HEADROOM" envDefault:"128MiB" yaml:"gc_headroom"`
	// GCPercent is the least the heap may grow over what the last
	// collection kept, in percent of it (GOGC): it applies once the
	// headroom is smaller, so a big store is not collected ever more often.
	GCPercent int `env:"GC_PERCENT" envDefault:"100" yaml:"gc_percent"`
	// MemoryLimit is the soft memory limit (GOMEMLIMIT) under which the
	// collector works harder however high GCPercent is: "auto" is 90 % of
	// the container's memory limit (cgroup), or of the machine's memory
	// where there is none; "off" sets none; or a size such as 1536MiB.
	MemoryLimit string `env:"MEMORY_LIMIT" envDefault:"auto" yaml:"memory_limit"`
}

// Validate checks the settings.
func (c RuntimeConfig) Validate() error {
	var errs []error
	if c.GCPercent < 25 || c.GCPercent > 2000 {
		errs = append(errs, errors.New("FOCAL_GC_PERCENT must be 25..2000"))
	}
	if c.GCHeadroom != "off" {
		if _, err := parseByteSize(c.GCHeadroom); err != nil {
			errs = append(errs, fmt.Errorf("FOCAL_GC_HEADROOM: %w", err))
		}
	}
	if c.MemoryLimit != "auto" && c.MemoryLimit != "off" {
		if _, err := parseByteSize(c.MemoryLimit); err != nil {
			errs = append(errs, fmt.Errorf("FOCAL_MEMORY_LIMIT: %w", err))
		}
	}
	return errors.Join(errs...)
}

// RuntimeSettings is what ApplyRuntime left in force.
type RuntimeSettings struct {
	// GCPercent is the collector's percent as set; with a headroom it is
	// the floor, and the percent in force follows the heap.
	GCPercent   int
	GCHeadroom  int64 // bytes; 0 means none
	MemoryLimit int64 // bytes; math.MaxInt64 means none
	// FromEnvironment names the Go variables (GOGC, GOMEMLIMIT) that
	// were set and so won over the configuration.
	FromEnvironment []string
}

// ApplyRuntime sets the collector's percent and the soft memory limit for
// the whole process, leaving GOGC and GOMEMLIMIT in charge when they are
// set, and logs what is in force.
func ApplyRuntime(c RuntimeConfig, log *zap.Logger) (RuntimeSettings, error) {
	var s RuntimeSettings
	replaceGCTuner(nil)
	if v := os.Getenv("GOGC"); v != "" {
		s.FromEnvironment = append(s.FromEnvironment, "GOGC")
		// GOGC's own percent, not the one in force: a tuner stopped
		// above may have left its last.
		s.GCPercent = gogcPercent(v)
		debug.SetGCPercent(s.GCPercent)
	} else {
		debug.SetGCPercent(c.GCPercent)
		s.GCPercent = c.GCPercent
		if c.GCHeadroom != "off" {
			h, err := parseByteSize(c.GCHeadroom)
			if err != nil {
				return s, fmt.Errorf("FOCAL_GC_HEADROOM: %w", err)
			}
			s.GCHeadroom = h
			replaceGCTuner(startGCTuner(uint64(h), c.GCPercent, nil))
		}
	}
	limit, err := applyMemoryLimit(c.MemoryLimit)
	if err != nil {
		return s, err
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		s.FromEnvironment = append(s.FromEnvironment, "GOMEMLIMIT")
	}
	s.MemoryLimit = limit
	log.Info("go runtime", zap.Int("gc_percent", s.GCPercent), zap.Int64("gc_headroom_bytes", s.GCHeadroom),
		zap.Int64("memory_limit_bytes", s.MemoryLimit),
		zap.Strings("from_environment", s.FromEnvironment))
	return s, nil
}

// applyMemoryLimit sets the soft memory limit and returns it.
func applyMemoryLimit(setting string) (int64, error) {
	if os.Getenv("GOMEMLIMIT") != "" || setting == "off" {
		return debug.SetMemoryLimit(-1), nil
	}
	if setting == "auto" {
		return memlimit.Set(memlimit.WithRatio(0.9),
			memlimit.WithProvider(memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)))
	}
	n, err := parseByteSize(setting)
	if err != nil {
		return debug.SetMemoryLimit(-1), err
	}
	debug.SetMemoryLimit(n)
	return n, nil
}

// byteUnits are the suffixes GOMEMLIMIT accepts, longest first.
var byteUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// parseByteSize reads a size the way GOMEMLIMIT does: a whole number with
// an optional B, KiB, MiB, GiB or TiB. Below 64 MiB is refused: the
// collector would run without pause.
func parseByteSize(s string) (int64, error) {
	num, shift := s, uint(0)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is not a size (a whole number with B, KiB, MiB, GiB or TiB, or auto or off)", s)
	}
	if n<<shift < 64<<20 {
		return 0, fmt.Errorf("%q is below 64MiB", s)
	}
	return n << shift, nil
}

// RuntimeFromEnv reads only the runtime settings from the FOCAL_ variables
// of the process's environment, with their defaults: for a process that
// must collect as focal serve does without its whole configuration (the
// bench's bare gin ceiling).
func RuntimeFromEnv() (RuntimeConfig, error) {
	var c RuntimeConfig
	if err := env.ParseWithOptions(&c, env.Options{Prefix: "FOCAL_"}); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// gogcPercent is the percent the runtime reads from GOGC=v at start: "off"
// is -1 (no collection by percent), an integer is itself, and anything
// else the default, 100.
func gogcPercent(v string) int {
	if v == "off" {
		return -1
	}
	if p, err := strconv.Atoi(v); err == nil {
		return p
	}
	return 100
}
