package main

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/pprof/profile"
)

// cpuProfile fetches a CPU profile of seconds from a Focal debug listener
// (FOCAL_DEBUG_ADDR); start it just before the load it should cover.
func cpuProfile(debugAddr string, d time.Duration) (*profile.Profile, error) {
	client := &http.Client{Timeout: d + 30*time.Second}
	res, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddr, int(d.Seconds())))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		return nil, fmt.Errorf("pprof answered %d: %s", res.StatusCode, body)
	}
	return profile.Parse(res.Body)
}

// funcShare is one function's share of the profiled CPU time.
type funcShare struct {
	Name      string
	Flat, Cum float64 // fractions of all samples
}

// profileSummary is what a CPU profile says costs, computed from its
// samples.
type profileSummary struct {
	Seconds float64 // CPU seconds sampled
	TopFlat []funcShare
	TopCum  []funcShare // Focal's functions below the HTTP layer, by cumulative time
	GC      float64     // share of samples in the garbage collector
	Syscall float64     // share in network system calls
}

// summarise ranks functions by their own and by cumulative CPU time.
func summarise(p *profile.Profile, top int) profileSummary {
	idx := 0 // the CPU-time sample value
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	t := cpuTimes{flat: map[string]int64{}, cum: map[string]int64{}}
	for _, s := range p.Sample {
		t.add(s, s.Value[idx])
	}
	sum := profileSummary{}
	if t.total == 0 {
		return sum
	}
	unit := 1.0
	if st := p.SampleType[idx]; st.Unit == "nanoseconds" {
		unit = 1e-9
	}
	sum.Seconds = float64(t.total) * unit
	sum.TopFlat = t.rank(t.flat, top, func(string) bool { return true })
	// The HTTP adapter's middleware and the metrics decorators wrap the
	// whole turn; what they wrap is what tells where the time goes.
	sum.TopCum = t.rank(t.cum, top, func(name string) bool {
		return strings.HasPrefix(name, "focal/") && !strings.Contains(name, ".func") &&
			!strings.HasPrefix(name, "focal/adapters/observe.") && !strings.HasPrefix(name, "focal/adapters/http.") &&
			!strings.HasPrefix(name, "focal/bootstrap.")
	})
	sum.GC, sum.Syscall = float64(t.gc)/float64(t.total), float64(t.sys)/float64(t.total)
	return sum
}

// cpuTimes adds up a profile's CPU time: per function its own (flat) and
// with its callees (cum), and in all, in the garbage collector and in
// system calls.
type cpuTimes struct {
	flat, cum      map[string]int64
	total, gc, sys int64
}

// add counts one sample of v.
func (t *cpuTimes) add(s *profile.Sample, v int64) {
	t.total += v
	seen := map[string]bool{}
	inGC, inSys := false, false
	for i, loc := range s.Location {
		for j, line := range loc.Line {
			if line.Function == nil {
				continue
			}
			name := line.Function.Name
			if i == 0 && j == 0 {
				t.flat[name] += v
			}
			if !seen[name] {
				seen[name] = true
				t.cum[name] += v
			}
			inGC = inGC || isGC(name)
			inSys = inSys || isSyscall(name)
		}
	}
	if inGC {
		t.gc += v
	}
	if inSys {
		t.sys += v
	}
}

func isGC(name string) bool {
	return strings.HasPrefix(name, "runtime.gcBgMarkWorker") || strings.HasPrefix(name, "runtime.gcAssistAlloc") ||
		name == "runtime.bgsweep" || name == "runtime.bgscavenge"
}

func isSyscall(name string) bool {
	return strings.HasPrefix(name, "syscall.Syscall") || strings.HasPrefix(name, "internal/runtime/syscall.") ||
		strings.HasPrefix(name, "syscall.RawSyscall")
}

// rank returns the top functions kept, by their time in by (flat or cum),
// the most first, ties by name.
func (t *cpuTimes) rank(by map[string]int64, top int, keep func(string) bool) []funcShare {
	var out []funcShare
	for name := range by {
		if keep(name) {
			out = append(out, funcShare{Name: name, Flat: float64(t.flat[name]) / float64(t.total), Cum: float64(t.cum[name]) / float64(t.total)})
		}
	}
	slices.SortFunc(out, func(a, b funcShare) int {
		if c := cmp.Compare(by[b.Name], by[a.Name]); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out[:min(top, len(out))]
}

// markdown writes the summary as one paragraph and two short lists.
func (s profileSummary) markdown(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (%.1f CPU s sampled): garbage collection %.0f%%, network system calls %.0f%%.\n\n", title, s.Seconds, 100*s.GC, 100*s.Syscall)
	b.WriteString("Top functions by own time: ")
	parts := make([]string, 0, len(s.TopFlat))
	for _, f := range s.TopFlat {
		parts = append(parts, fmt.Sprintf("`%s` %.1f%%", shortName(f.Name), 100*f.Flat))
	}
	b.WriteString(strings.Join(parts, ", ") + ".\n\n")
	b.WriteString("Focal's functions below the HTTP layer by cumulative time: ")
	parts = parts[:0]
	for _, f := range s.TopCum {
		parts = append(parts, fmt.Sprintf("`%s` %.1f%%", shortName(f.Name), 100*f.Cum))
	}
	b.WriteString(strings.Join(parts, ", ") + ".\n")
	return b.String()
}

// shortName drops the module path up to the package, and the type
// arguments of a generic function.
func shortName(name string) string {
	if i := strings.Index(name, "["); i >= 0 {
		name = name[:i] + "[…]"
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}
	return name
}

// keepProfiles writes a run's CPU profile, and the process's allocation
// profile as it stands after the run, to dir for go tool pprof.
func keepProfiles(dir, label, debugAddr string, cpu *profile.Profile) error {
	name := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '-'
	}, label)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pb.gz"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := cpu.Write(f); err != nil {
		return err
	}
	return fetchTo(filepath.Join(dir, name+".allocs.pb.gz"), fmt.Sprintf("http://%s/debug/pprof/allocs", debugAddr))
}

// fetchTo writes the body of a GET of url to the file path.
func fetchTo(path, url string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, res.Body)
	return err
}
