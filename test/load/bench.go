package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	httpapi "focal/adapters/http"
)

const (
	benchTenant = "550e8400-e29b-41d4-a716-446655440000"
	benchAgent  = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	benchSecret = "bench-secret-bench-secret-bench-secret"
)

// bench is one `make bench` run: it starts real processes on loopback,
// measures each scenario several times and writes what it measured.
type bench struct {
	bin      string // directory holding the focal, load and fakellm binaries
	work     string // scratch directory
	runs     int
	duration time.Duration
	users    int // returning users seeded per Focal process
	phrases  *phrases
	messages string // file of JSON-escaped messages for the wrk script
	wrk      *wrker
	report   *report
	procs    []*exec.Cmd
	profiles string                // directory keeping each run's raw profiles ("": none kept)
	chosen   map[int]openingChoice // by rule count, see openings
}

// section is one part of the bench; sections run in order and each adds
// to the report.
type section struct {
	name string
	run  func(b *bench) error
}

// benchOptions are the bench's flags.
type benchOptions struct {
	out, bin, mongoURI, pgURL, phrases, only, profiles string
	runs, users, soakRate, idle                        int
	duration, soak                                     time.Duration
	goBench                                            bool
}

func parseBenchFlags(args []string) benchOptions {
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file to write")
	fs.StringVar(&o.bin, "bin", "bin", "directory with the focal, load and fakellm binaries")
	fs.IntVar(&o.runs, "runs", 3, "Focal / bare gin pairs per configuration (medians are reported)")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "length of each load run")
	fs.IntVar(&o.users, "users", 500, "returning users seeded with history")
	fs.DurationVar(&o.soak, "soak", 10*time.Minute, "length of the soak (0: skipped, and the report says so)")
	fs.IntVar(&o.soakRate, "soak-rate", 1000, "turns per second the soak aims at")
	fs.BoolVar(&o.goBench, "go-bench", true, "run the Go engine benchmarks too")
	fs.StringVar(&o.mongoURI, "mongo", os.Getenv("FOCAL_TEST_MONGO_URI"), "MongoDB URI for the MongoDB rows (empty: skipped, and the report says so)")
	fs.StringVar(&o.pgURL, "postgres", os.Getenv("FOCAL_TEST_POSTGRES_URL"), "PostgreSQL URL for the PostgreSQL rows (empty: skipped, and the report says so)")
	fs.IntVar(&o.idle, "idle-streams", 10000, "idle SSE streams to hold open at once (0: skip)")
	fs.StringVar(&o.phrases, "phrases", defaultPhrases, "Banking77-style CSV the rules and messages come from")
	fs.StringVar(&o.only, "only", "", "comma-separated sections to run (default: all): engine, replay, sync, publish, soak, mongo, mongo commands, postgres statements, backends, streaming, history, idle streams, integrity")
	fs.StringVar(&o.profiles, "keep-profiles", "", "directory to keep the raw CPU and allocation profiles of the profiled runs in (for go tool pprof)")
	_ = fs.Parse(args)
	return o
}

// sections are the parts of the bench o asks for, in order.
func (o benchOptions) sections() []section {
	all := []section{
		{"engine", (*bench).engineBenchmarks},
		{"replay", (*bench).replayBenchmark},
		{"sync", (*bench).syncScenarios},
		{"publish", (*bench).publishing},
		{"soak", func(b *bench) error { return b.soak(o.soak, o.soakRate) }},
		{"mongo", func(b *bench) error { return b.mongo(o.mongoURI) }},
		{"mongo commands", func(b *bench) error { return b.mongoCommandsPerTurn(o.mongoURI) }},
		{"postgres statements", func(b *bench) error { return b.postgresStatementsPerTurn(o.pgURL) }},
		{"backends", func(b *bench) error { return b.backends(o.pgURL, o.mongoURI) }},
		{"streaming", (*bench).streaming},
		{"history", (*bench).history},
		{"idle streams", func(b *bench) error { return b.idleStreams(o.idle) }},
		{"integrity", (*bench).integrity},
	}
	return slices.DeleteFunc(all, func(s section) bool {
		return (s.name == "engine" || s.name == "replay") && !o.goBench || o.only != "" && !slices.Contains(strings.Split(o.only, ","), s.name)
	})
}

func runBench(args []string) error {
	o := parseBenchFlags(args)
	work, err := os.MkdirTemp("", "focal-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	p, err := loadPhrases(o.phrases)
	if err != nil {
		return err
	}
	b := &bench{bin: o.bin, work: work, runs: o.runs, duration: o.duration, users: o.users, phrases: p, report: newReport(), profiles: o.profiles}
	b.report.runs = o.runs
	defer b.stopAll()
	b.messages = filepath.Join(work, "messages.txt")
	if err := writeMessages(b.messages, p.messages()); err != nil {
		return err
	}
	if b.wrk, err = newWrker(work, token()); err != nil {
		return err
	}
	b.report.load = loadAverage()
	started := time.Now()
	for _, s := range o.sections() {
		fmt.Fprintf(os.Stderr, "bench: %s\n", s.name)
		if err := s.run(b); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.report.elapsed = time.Since(started)
	b.report.load += " → " + loadAverage()
	// make chaos writes its own section, which a bench run keeps.
	return os.WriteFile(o.out, []byte(keepChaosSection(o.out, b.report.markdown())), 0o644)
}

// loadAverage is the machine's load from /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:3], " ")
}

// token signs a bench token: enterprise tier, so limits stay out of the way.
func token() string {
	t, err := httpapi.SignToken(benchSecret, httpapi.TokenRequest{TenantID: benchTenant, Tier: httpapi.TierEnterprise, TTL: 6 * time.Hour}, time.Now())
	if err != nil {
		panic(err)
	}
	return t
}

// freePort picks a port for a child process, which needs an address
// before it starts.
func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs a process and waits until addr accepts connections.
func (b *bench) start(addr string, env []string, name string, args ...string) (*exec.Cmd, error) {
	// freePort's port is free only when it answers: another process (a
	// test suite on the same machine) may take it before this one binds,
	// and the wait below would then take that process for this one.
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		return nil, fmt.Errorf("another process took %s before %s started", addr, filepath.Base(name))
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(filepath.Join(b.work, filepath.Base(name)+"-"+strings.ReplaceAll(addr, ":", "_")+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b.procs = append(b.procs, cmd)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := os.ReadFile(logf.Name())
	return nil, fmt.Errorf("%s did not listen on %s; its log ends:\n%s", name, addr, out[max(0, len(out)-2000):])
}

func (b *bench) stop(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	b.procs = slices.DeleteFunc(b.procs, func(c *exec.Cmd) bool { return c == cmd })
}

func (b *bench) stopAll() {
	for len(b.procs) > 0 {
		b.stop(b.procs[0])
	}
}

// focalProc is a running Focal.
type focalProc struct {
	cmd   *exec.Cmd
	url   string
	debug string // pprof listener address
}

// focal starts Focal with the given bundle and extra environment, with its
// pprof listener on, and returns it once it serves.
func (b *bench) focal(bundle string, extra ...string) (*focalProc, error) {
	addr, debug := freePort(), freePort()
	env := append([]string{
		"FOCAL_HTTP_ADDR=" + addr, "FOCAL_JWT_SECRET=" + benchSecret, "FOCAL_BOOTSTRAP_BUNDLE=" + bundle,
		"FOCAL_LOG_LEVEL=error", "FOCAL_RATE_LIMIT_ENTERPRISE=100000000", "FOCAL_DEBUG_ADDR=" + debug,
	}, extra...)
	cmd, err := b.start(addr, env, filepath.Join(b.bin, "focal"), "serve")
	if err != nil {
		return nil, err
	}
	return &focalProc{cmd: cmd, url: "http://" + addr, debug: debug}, nil
}

// bareGin starts the bare gin handler with env added to the bench's own.
func (b *bench) bareGin(env ...string) (*exec.Cmd, string, error) {
	addr := freePort()
	cmd, err := b.start(addr, env, filepath.Join(b.bin, "load"), "baregin", "-addr", addr)
	return cmd, "http://" + addr, err
}

// bundleFile writes the bench agent with n rules once and returns its path.
func (b *bench) bundleFile(n int) (string, error) {
	path := filepath.Join(b.work, fmt.Sprintf("bench-%d.json", n))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	// From the bench's own phrasings (-phrases), as its messages are.
	data, err := json.MarshalIndent(buildBundle(b.phrases, n), "", " ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o644)
}

// openings are the returning users' first messages at n rules (see
// chooseOpenings), chosen once per rule count.
func (b *bench) openings(n int) (openingChoice, error) {
	if o, ok := b.chosen[n]; ok {
		return o, nil
	}
	path, err := b.bundleFile(n)
	if err != nil {
		return openingChoice{}, err
	}
	o, err := chooseOpenings(path, b.phrases)
	if err != nil {
		return o, err
	}
	if b.chosen == nil {
		b.chosen = map[int]openingChoice{}
	}
	b.chosen[n] = o
	return o, nil
}

// packBacklogMetric is the memory store's count of sessions waiting to be
// packed.
const packBacklogMetric = "focal_memory_sessions_awaiting_pack"

// gauge reads a metric of one sample on url's /metrics; a metric not
// there is an error.
func gauge(url, name string) (float64, error) {
	res, err := http.Get(url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s/metrics has no %s", url, name)
}

// counter sums every sample of a metric on /metrics.
func counter(url, name string) float64 {
	res, err := http.Get(url + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var sum float64
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		if rest := strings.TrimPrefix(line, name); rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// integrity runs the reliability load (docs/benchmarks.md, "Integrity under
// load") against memory.
func (b *bench) integrity() error {
	bundle, err := b.bundleFile(100)
	if err != nil {
		return err
	}
	// A thousand requests at once is the point: the tenant's cap on chat
	// requests in flight would refuse most of them.
	f, err := b.focal(bundle, "FOCAL_MAX_INFLIGHT_TURNS_PER_TENANT=2000")
	if err != nil {
		return err
	}
	defer b.stop(f.cmd)
	out, err := exec.Command(filepath.Join(b.bin, "load"), "integrity", "-url", f.url, "-token", token(), "-agent", benchAgent).CombinedOutput()
	b.report.integrity = strings.TrimSpace(string(out))
	if err != nil {
		return fmt.Errorf("integrity load failed: %w\n%s", err, out)
	}
	return nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ \S+/op)*?\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

// engineBenchmarks runs the Go benchmark of the engine alone.
func (b *bench) engineBenchmarks() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "BenchmarkRunTurn", "-benchtime", "2000x",
		"-count", strconv.Itoa(max(b.runs, 3)), "-benchmem", "./application/alignment/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	byName := map[string][][3]float64{}
	var order []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := strings.TrimSuffix(m[1], "-"+strconv.Itoa(runtime.GOMAXPROCS(0)))
		if _, seen := byName[name]; !seen {
			order = append(order, name)
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		bytes, _ := strconv.ParseFloat(m[3], 64)
		allocs, _ := strconv.ParseFloat(m[4], 64)
		byName[name] = append(byName[name], [3]float64{ns, bytes, allocs})
	}
	if len(order) == 0 {
		return errors.New("no benchmark results in go test output")
	}
	for _, name := range order {
		b.report.engine = append(b.report.engine, engineRow{name: name, runs: byName[name]})
	}
	return nil
}
