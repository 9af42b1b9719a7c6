package main

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:embed lua/chat.lua
var chatLua []byte

// loadRun is what one wrk run measured and checked. Latencies in
// microseconds.
type loadRun struct {
	Requests     int64 `json:"requests"`
	DurationUS   int64 `json:"duration_us"`
	OK           int64 `json:"ok"`
	Non2xx       int64 `json:"non2xx"`
	Invalid      int64 `json:"invalid"`
	SocketErrors int64 `json:"socket_errors"`
	P50US        int64 `json:"p50_us"`
	P90US        int64 `json:"p90_us"`
	P99US        int64 `json:"p99_us"`
	MaxUS        int64 `json:"max_us"`
	// Sample is the first answer that was not a 2xx real turn.
	Sample string `json:"-"`
	// ServerCPU is the CPU time the server under load used during the run
	// (0: not measured), LoadCPU wrk's own.
	ServerCPU, LoadCPU time.Duration `json:"-"`
	// ServerFaults is the pages the server touched for the first time
	// during the run (minflt).
	ServerFaults int64 `json:"-"`
	// Settled is how the wait for a quiet machine before the run went.
	Settled settling `json:"-"`
	// Host is what the host-stall probe saw during the run, nil when
	// none ran (see probedRun).
	Host *hostStalls `json:"-"`
	// ended is when wrk exited, CLOCK_MONOTONIC ns: the end of the run's
	// window for the probe.
	ended int64
}

// Void reports why a run must be thrown out, or "" when every answer was a
// 2xx real turn and there were some.
func (r loadRun) Void() string {
	switch {
	case r.Requests == 0:
		return "no requests completed"
	case r.Non2xx > 0:
		return fmt.Sprintf("%d non-2xx answers", r.Non2xx)
	case r.Invalid > 0:
		return fmt.Sprintf("%d 2xx answers that were not turns", r.Invalid)
	case r.SocketErrors > 0:
		return fmt.Sprintf("%d connection errors or timeouts", r.SocketErrors)
	case r.OK != r.Requests:
		return fmt.Sprintf("%d answers checked of %d requests", r.OK, r.Requests)
	}
	return ""
}

// Throughput is completed requests per second.
func (r loadRun) Throughput() float64 {
	if r.DurationUS == 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

// wrkSpec is one closed-loop run.
type wrkSpec struct {
	url         string // base URL; the script posts to /v1/chat
	conns       int
	duration    time.Duration
	mode        string // new, returning or mix
	users       int    // returning users ret-0..ret-<users-1>
	delayMS     int    // per-connection pause between requests (0: back to back)
	keyPercent  int    // share of requests with an Idempotency-Key
	messageFile string
	serverPID   int // the server under load, whose CPU time the run reads (0: not read)
}

// wrker runs wrk with the chat script from a scratch directory.
type wrker struct {
	dir    string
	script string
	token  string
	runs   int // names output files and new users uniquely
}

func newWrker(dir, token string) (*wrker, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, fmt.Errorf("wrk is not installed (scripts/bench.sh installs the Debian package): %w", err)
	}
	script := filepath.Join(dir, "chat.lua")
	return &wrker{dir: dir, script: script, token: token}, os.WriteFile(script, chatLua, 0o644)
}

// run drives one wrk run and reads back what the script recorded.
func (w *wrker) run(s wrkSpec) (loadRun, error) {
	w.runs++
	runID := fmt.Sprintf("%d-%d", time.Now().UnixNano(), w.runs)
	out := filepath.Join(w.dir, "run-"+runID+".json")
	args := []string{"-t1", "-c" + strconv.Itoa(s.conns), "-d" + strconv.Itoa(max(1, int(s.duration.Seconds()))) + "s", "--timeout", "10s", "-s", w.script,
		s.url + "/v1/chat", "--", w.token, benchAgent, s.mode, strconv.Itoa(max(s.users, 1)), runID, s.messageFile, out,
		strconv.Itoa(s.delayMS), strconv.Itoa(s.keyPercent)}
	cmd := exec.Command("wrk", args...)
	before, usageErr := s.serverUsage()
	stdout, err := cmd.CombinedOutput()
	ended := monotonicNS()
	if err != nil {
		return loadRun{}, fmt.Errorf("wrk: %w\n%s", err, stdout)
	}
	after, err := s.serverUsage()
	if err = cmp.Or(usageErr, err); err != nil {
		return loadRun{}, fmt.Errorf("CPU time of the server under load: %w", err)
	}
	r := loadRun{ServerCPU: after.cpu - before.cpu, ServerFaults: after.minorFaults - before.minorFaults,
		LoadCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), ended: ended}
	data, err := os.ReadFile(out)
	if err != nil {
		return r, fmt.Errorf("wrk wrote no result: %w\n%s", err, stdout)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("wrk result %s: %w", out, err)
	}
	if sample, err := os.ReadFile(out + ".sample"); err == nil {
		r.Sample = strings.TrimSpace(string(sample))
	}
	return r, nil
}

// serverUsage is what the server under load has used so far, nothing
// when the spec names none.
func (s wrkSpec) serverUsage() (procUsage, error) {
	if s.serverPID == 0 {
		return procUsage{}, nil
	}
	return processUsage(s.serverPID)
}

// writeMessages writes one JSON-escaped message per line for the script.
func writeMessages(path string, msgs []string) error {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(jsonString(m))
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
