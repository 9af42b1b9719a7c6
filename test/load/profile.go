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
	// Stages splits all samples by the part of a turn they fell in, one
	// stage each (see turnStages), in turnStages' order.
	Stages []float64
}

// turnStages are the parts of a turn a CPU sample is counted in: the
// first whose test matches a function on its stack, so the stages do not
// overlap and add up to the whole profile. They go by Focal's function
// names: a renamed function moves its time to a later stage.
var turnStages = []struct {
	name string
	in   func(fn string) bool
}{
	{"garbage collection", isGC},
	{"network system calls", isSyscall},
	{"matching", is("focal/application/alignment.match")},
	{"committing the turn to the store", is("focal/application.(*ProcessMessage).commit")},
	{"taking the session's lease", is("focal/application.(*ProcessMessage).lockSession")},
	{"the engine besides matching", is("focal/application/alignment.(*Engine).RunTurn")},
	{"the use case besides engine and store", is("focal/application.(*PreparedTurn).Run", "focal/application.(*ProcessMessage).Prepare")},
	{"HTTP, middleware and JSON", is("net/http.(*conn).serve")},
	{"the rest (runtime, timers, background work)", func(string) bool { return true }},
}

// is matches any of names.
func is(names ...string) func(string) bool {
	return func(fn string) bool { return slices.Contains(names, fn) }
}

// stageOf is the index in turnStages of the stage a sample whose stack
// holds fns (leaf first) is counted in.
func stageOf(fns []string) int {
	for i, st := range turnStages {
		if slices.ContainsFunc(fns, st.in) {
			return i
		}
	}
	return len(turnStages) - 1
}

// summarise ranks functions by their own and by cumulative CPU time.
func summarise(p *profile.Profile, top int) profileSummary {
	idx := 0 // the CPU-time sample value
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	t := cpuTimes{flat: map[string]int64{}, cum: map[string]int64{}, stages: make([]int64, len(turnStages))}
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
	sum.Stages = make([]float64, len(turnStages))
	for i, v := range t.stages {
		sum.Stages[i] = float64(v) / float64(t.total)
	}
	return sum
}

// cpuTimes adds up a profile's CPU time: per function its own (flat) and
// with its callees (cum), and in all, in the garbage collector and in
// system calls.
type cpuTimes struct {
	flat, cum      map[string]int64
	total, gc, sys int64
	stages         []int64 // per turnStages entry
}

// add counts one sample of v.
func (t *cpuTimes) add(s *profile.Sample, v int64) {
	t.total += v
	var fns []string // leaf first
	for i, loc := range s.Location {
		for j, line := range loc.Line {
			if line.Function == nil {
				continue
			}
			name := line.Function.Name
			if i == 0 && j == 0 {
				t.flat[name] += v
			}
			if !slices.Contains(fns, name) {
				t.cum[name] += v
			}
			fns = append(fns, name)
		}
	}
	t.stages[stageOf(fns)] += v
	inGC, inSys := slices.ContainsFunc(fns, isGC), slices.ContainsFunc(fns, isSyscall)
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

// markdown writes the summary as one paragraph and three short lists;
// usPerTurn, the CPU the profiled process used per turn (0: unknown),
// turns the stages' shares into microseconds.
func (s profileSummary) markdown(title string, usPerTurn float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (%.1f CPU s sampled): garbage collection %.0f%%, network system calls %.0f%%.\n\n", title, s.Seconds, 100*s.GC, 100*s.Syscall)
	if stages := s.stagesText(usPerTurn); stages != "" {
		b.WriteString("By part of the turn, each sample counted once: " + stages + ".\n\n")
	}
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

// stagesText lists the stages that took any time, the most first, with
// their microseconds per turn when usPerTurn is known.
func (s profileSummary) stagesText(usPerTurn float64) string {
	order := make([]int, 0, len(s.Stages))
	for i, share := range s.Stages {
		if share > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(s.Stages[b], s.Stages[a]) })
	parts := make([]string, len(order))
	for k, i := range order {
		parts[k] = fmt.Sprintf("%s %.0f%%", turnStages[i].name, 100*s.Stages[i])
		if usPerTurn > 0 {
			parts[k] += fmt.Sprintf(" (%.0f µs)", s.Stages[i]*usPerTurn)
		}
	}
	return strings.Join(parts, ", ")
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
