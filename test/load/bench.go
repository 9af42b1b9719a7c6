package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
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
// measures each scenario several times and writes the medians.
type bench struct {
	bin      string // directory holding focal and load binaries
	work     string // scratch directory
	runs     int
	duration time.Duration
	report   *report
	procs    []*exec.Cmd
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	out := fs.String("out", "docs/benchmarks.md", "markdown file to write")
	bin := fs.String("bin", "bin", "directory with the focal and load binaries")
	runs := fs.Int("runs", 3, "repetitions of each measurement (medians are reported)")
	duration := fs.Duration("duration", 4*time.Second, "length of each load run")
	goBench := fs.Bool("go-bench", true, "run the Go engine benchmarks too")
	mongoURI := fs.String("mongo", os.Getenv("FOCAL_TEST_MONGO_URI"), "MongoDB URI for the MongoDB scenario (empty: skipped, and the report says so)")
	idle := fs.Int("idle-streams", 10000, "idle SSE streams to hold open at once (0: skip)")
	_ = fs.Parse(args)
	work, err := os.MkdirTemp("", "focal-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{bin: *bin, work: work, runs: *runs, duration: *duration, report: newReport()}
	defer b.stopAll()

	started := time.Now()
	if *goBench {
		if err := b.engineBenchmarks(); err != nil {
			return err
		}
	}
	if err := b.syncScenarios(*mongoURI); err != nil {
		return err
	}
	if err := b.streaming(); err != nil {
		return err
	}
	if err := b.history(); err != nil {
		return err
	}
	if *idle > 0 {
		if err := b.idleStreams(*idle); err != nil {
			return err
		}
	}
	if err := b.integrity(); err != nil {
		return err
	}
	b.report.elapsed = time.Since(started)
	return os.WriteFile(*out, []byte(keepChaosSection(*out, b.report.markdown())), 0o644) // test/load/mongo_commands.go
}

// token signs a bench token: enterprise tier, so limits stay out of the way.
func token() string {
	t, err := httpapi.SignToken(benchSecret, httpapi.TokenRequest{TenantID: benchTenant, Tier: httpapi.TierEnterprise, TTL: 2 * time.Hour}, time.Now())
	if err != nil {
		panic(err)
	}
	return t
}

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
	return nil, fmt.Errorf("%s did not listen on %s (log in %s)", name, addr, logf.Name())
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

// focal starts a Focal server on the memory store (or MongoDB) with the
// given bundle and returns its base URL.
func (b *bench) focal(bundle string, extra ...string) (*exec.Cmd, string, error) {
	addr := freePort()
	env := append([]string{
		"FOCAL_HTTP_ADDR=" + addr, "FOCAL_JWT_SECRET=" + benchSecret, "FOCAL_BOOTSTRAP_BUNDLE=" + bundle,
		"FOCAL_LOG_LEVEL=error", "FOCAL_RATE_LIMIT_ENTERPRISE=100000000",
	}, extra...)
	cmd, err := b.start(addr, env, filepath.Join(b.bin, "focal"), "serve")
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	// One turn to warm up caches (compiled policy, connections).
	_ = attack(attackSpec{URL: url, Path: "/v1/chat", Token: token(), Agent: benchAgent, Message: benchMessage, Workers: 1, Duration: 300 * time.Millisecond})
	return cmd, url, nil
}

const benchMessage = "What time do you open on Sunday?"

// measure repeats an attack and keeps every run.
func (b *bench) measure(s attackSpec) []attackResult {
	out := make([]attackResult, 0, b.runs)
	for range b.runs {
		out = append(out, attack(s))
	}
	return out
}

func (b *bench) syncScenarios(mongoURI string) error {
	for _, rules := range []int{100, 10000} {
		bundle := filepath.Join(b.work, fmt.Sprintf("bench-%d.json", rules))
		if err := runBundle([]string{"-rules", strconv.Itoa(rules), "-out", bundle}); err != nil {
			return err
		}
		cmd, url, err := b.focal(bundle)
		if err != nil {
			return err
		}
		for _, workers := range []uint64{1, 32} {
			res := b.measure(attackSpec{URL: url, Path: "/v1/chat", Token: token(), Agent: benchAgent, Message: benchMessage, Workers: workers, Duration: b.duration})
			b.report.sync = append(b.report.sync, syncRow{store: "memory", rules: rules, workers: workers, runs: res})
		}
		b.stop(cmd)
	}
	addr := freePort()
	cmd, err := b.start(addr, nil, filepath.Join(b.bin, "load"), "baregin", "-addr", addr)
	if err != nil {
		return err
	}
	for _, workers := range []uint64{1, 32} {
		res := b.measure(attackSpec{URL: "http://" + addr, Path: "/v1/chat", Token: token(), Agent: benchAgent, Message: benchMessage, Workers: workers, Duration: b.duration})
		b.report.bare = append(b.report.bare, syncRow{store: "bare gin", workers: workers, runs: res})
	}
	b.stop(cmd)
	if mongoURI == "" {
		b.report.notes = append(b.report.notes, "MongoDB scenario skipped: no FOCAL_TEST_MONGO_URI (make bench starts the test server itself).")
		return nil
	}
	bundle := filepath.Join(b.work, "bench-100.json")
	db := fmt.Sprintf("focal_bench_%d", time.Now().UnixNano())
	cmd, url, err := b.focal(bundle, "FOCAL_STORE=mongo", "FOCAL_MONGO_ALLOW_STANDALONE=true", "FOCAL_MONGO_URI="+mongoURI, "FOCAL_MONGO_DB="+db)
	if err != nil {
		return err
	}
	for _, workers := range []uint64{1, 32} {
		res := b.measure(attackSpec{URL: url, Path: "/v1/chat", Token: token(), Agent: benchAgent, Message: benchMessage, Workers: workers, Duration: b.duration})
		b.report.sync = append(b.report.sync, syncRow{store: "MongoDB (FerretDB test server)", rules: 100, workers: workers, runs: res})
	}
	b.stop(cmd)
	b.mongoCommandsPerTurn(mongoURI, bundle) // test/load/mongo_commands.go
	return nil
}

// integrity runs the reliability load (DESIGN §9) against memory.
func (b *bench) integrity() error {
	bundle := filepath.Join(b.work, "bench-100.json")
	cmd, url, err := b.focal(bundle)
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	out, err := exec.Command(filepath.Join(b.bin, "load"), "integrity", "-url", url, "-token", token(), "-agent", benchAgent).CombinedOutput()
	b.report.integrity = strings.TrimSpace(string(out))
	if err != nil {
		return fmt.Errorf("integrity load failed: %w\n%s", err, out)
	}
	return nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

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
