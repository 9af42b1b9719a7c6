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
	"go.uber.org/zap"
)

// DefaultGCPercent is FOCAL_GC_PERCENT's default (its envDefault tag says
// the same; TestDefaultGCPercentIsTheTagsDefault keeps them together).
// make bench runs the bare gin ceiling with it too, so both sides of its
// ratios collect alike.
const DefaultGCPercent = 400

// RuntimeConfig tunes the Go runtime of `focal serve`. The standard GOGC
// and GOMEMLIMIT variables, when set, win over these.
type RuntimeConfig struct {
	// GCPercent is how far the heap may grow over what the last collection
	// kept before the next one starts (GOGC). A turn allocates tens of KB
	// and keeps little, so at Go's 100 a busy process collects several
	// times a second and a collection's mark workers take the CPU the
	// requests need: the tail latency of back-to-back turns is mostly GC.
	GCPercent int `env:"GC_PERCENT" envDefault:"400" yaml:"gc_percent"`
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
	if c.MemoryLimit != "auto" && c.MemoryLimit != "off" {
		if _, err := parseByteSize(c.MemoryLimit); err != nil {
			errs = append(errs, fmt.Errorf("FOCAL_MEMORY_LIMIT: %w", err))
		}
	}
	return errors.Join(errs...)
}

// RuntimeSettings is what ApplyRuntime left in force.
type RuntimeSettings struct {
	GCPercent   int
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
	if v := os.Getenv("GOGC"); v != "" {
		s.FromEnvironment = append(s.FromEnvironment, "GOGC")
		s.GCPercent = debug.SetGCPercent(-1)
		debug.SetGCPercent(s.GCPercent)
	} else {
		debug.SetGCPercent(c.GCPercent)
		s.GCPercent = c.GCPercent
	}
	limit, err := applyMemoryLimit(c.MemoryLimit)
	if err != nil {
		return s, err
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		s.FromEnvironment = append(s.FromEnvironment, "GOMEMLIMIT")
	}
	s.MemoryLimit = limit
	log.Info("go runtime", zap.Int("gc_percent", s.GCPercent), zap.Int64("memory_limit_bytes", s.MemoryLimit),
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
