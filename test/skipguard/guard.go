package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json), build events
// included.
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Output     string
}

// testID names one test (or subtest) of one package.
type testID struct{ pkg, test string }

func (id testID) String() string { return id.pkg + " " + id.test }

// AllowList holds the tests that may skip, each with the reason it may.
type AllowList struct {
	reasons map[testID]string
	used    map[testID]bool
}

// ParseAllowList reads one entry per line: the package import path, the
// full test name (subtests as Parent/child) and a reason, separated by
// white space. Blank lines and lines starting with # are ignored. An entry
// without a reason is an error: every allowed skip says why.
func ParseAllowList(r io.Reader) (*AllowList, error) {
	a := &AllowList{reasons: map[testID]string{}, used: map[testID]bool{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("allow list line %d: want <package> <test> <reason>, got %q", n, line)
		}
		id := testID{fields[0], fields[1]}
		if _, dup := a.reasons[id]; dup {
			return nil, fmt.Errorf("allow list line %d: %s is listed twice", n, id)
		}
		a.reasons[id] = strings.Join(fields[2:], " ")
	}
	return a, sc.Err()
}

// allows reports whether id may skip, and remembers that the entry is in
// use.
func (a *AllowList) allows(id testID) bool {
	if a == nil {
		return false
	}
	_, ok := a.reasons[id]
	if ok {
		a.used[id] = true
	}
	return ok
}

// unused lists the entries no skip matched, sorted.
func (a *AllowList) unused() []string {
	if a == nil {
		return nil
	}
	var out []string
	for id := range a.reasons {
		if !a.used[id] {
			out = append(out, id.String())
		}
	}
	sort.Strings(out)
	return out
}

// Summary counts what a run did; it fails when anything failed, when a test
// skipped outside the allow list, or when no test ran at all.
type Summary struct {
	Passed, Failed, Skipped, AllowedSkips int
	Packages, FailedPackages              int
	Unexpected                            []string // skips outside the allow list
	BuildFailures                         []string // packages that did not compile
	NonJSON                               int      // lines that were not test events
}

// OK reports whether the run passes the guard.
func (s *Summary) OK() bool {
	return s.Failed == 0 && s.FailedPackages == 0 && len(s.Unexpected) == 0 && len(s.BuildFailures) == 0 &&
		s.Passed+s.Failed+s.Skipped > 0
}

// guard reads a `go test -json` stream and writes what a person needs:
// each package's result line, the whole output of every failing test and
// of every unexpected skip, and a summary.
type guard struct {
	out   io.Writer
	allow *AllowList
	sum   Summary
	// logs holds the output of tests (and of packages, under test "") that
	// have not finished yet.
	logs map[testID]*strings.Builder
}

// Run guards the stream in and returns its summary; the summary is also
// written to out.
func Run(in io.Reader, out io.Writer, allow *AllowList) (Summary, error) {
	g := &guard{out: out, allow: allow, logs: map[testID]*strings.Builder{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024) // test output lines can be long
	for sc.Scan() {
		g.line(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		return g.sum, fmt.Errorf("read go test output: %w", err)
	}
	g.unfinished()
	g.summarize()
	return g.sum, nil
}

func (g *guard) line(raw []byte) {
	var ev event
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &ev) != nil || ev.Action == "" {
		g.sum.NonJSON++
		fmt.Fprintf(g.out, "%s\n", raw) // not a test event: pass it on as it is
		return
	}
	id := testID{ev.Package, ev.Test}
	switch ev.Action {
	case "build-output":
		fmt.Fprint(g.out, ev.Output)
	case "build-fail":
		g.sum.BuildFailures = append(g.sum.BuildFailures, ev.ImportPath)
	case "output":
		g.log(id).WriteString(ev.Output)
	case "pass":
		g.finish(id, func() {
			if ev.Test == "" {
				g.sum.Packages++
				g.printPackageResult(id)
				return
			}
			g.sum.Passed++
		})
	case "fail":
		g.finish(id, func() {
			if ev.Test == "" {
				g.sum.Packages++
				g.sum.FailedPackages++
				fmt.Fprintf(g.out, "--- package %s failed:\n%s", id.pkg, g.log(id))
				return
			}
			g.sum.Failed++
			fmt.Fprintf(g.out, "%s", g.log(id))
		})
	case "skip":
		g.finish(id, func() {
			if ev.Test == "" {
				g.sum.Packages++ // no test files, or no tests
				return
			}
			g.sum.Skipped++
			if g.allow.allows(id) {
				g.sum.AllowedSkips++
				return
			}
			g.sum.Unexpected = append(g.sum.Unexpected, id.String())
			fmt.Fprintf(g.out, "--- skipped outside the allow list: %s\n%s", id, g.log(id))
		})
	}
}

// log returns the output collected so far for id.
func (g *guard) log(id testID) *strings.Builder {
	b := g.logs[id]
	if b == nil {
		b = &strings.Builder{}
		g.logs[id] = b
	}
	return b
}

// finish handles a test's final event, then forgets its output.
func (g *guard) finish(id testID, handle func()) {
	handle()
	delete(g.logs, id)
}

// printPackageResult prints a passing package's result line ("ok ...").
func (g *guard) printPackageResult(id testID) {
	lines := strings.Split(strings.TrimRight(g.log(id).String(), "\n"), "\n")
	if last := lines[len(lines)-1]; strings.HasPrefix(last, "ok") {
		fmt.Fprintln(g.out, last)
	}
}

// unfinished prints the output of tests that never ended: the stream was
// cut, or the test binary died (a timeout or a crash) while they ran.
func (g *guard) unfinished() {
	var ids []testID
	for id, b := range g.logs {
		if id.test != "" && b.Len() > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	for _, id := range ids {
		g.sum.Failed++
		fmt.Fprintf(g.out, "--- %s never finished:\n%s", id, g.logs[id])
	}
}

func (g *guard) summarize() {
	s := &g.sum
	fmt.Fprintf(g.out, "\ntests: %d passed, %d failed, %d skipped (%d allowed by the allow list); packages: %d, %d failed\n",
		s.Passed, s.Failed, s.Skipped, s.AllowedSkips, s.Packages, s.FailedPackages)
	for _, p := range s.BuildFailures {
		fmt.Fprintf(g.out, "build failed: %s\n", p)
	}
	if len(s.Unexpected) > 0 {
		fmt.Fprintf(g.out, "%d test(s) skipped outside the allow list (make them run, or list them with a reason):\n", len(s.Unexpected))
		for _, id := range s.Unexpected {
			fmt.Fprintf(g.out, "  %s\n", id)
		}
	}
	for _, id := range g.allow.unused() {
		fmt.Fprintf(g.out, "note: allow list entry %q matched no skip\n", id)
	}
	if s.Passed+s.Failed+s.Skipped == 0 {
		fmt.Fprintln(g.out, "no test ran: the input was not `go test -json` output")
	}
}
