package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// replayLimit is the target for replaying 1,000 recorded turns offline on
// the memory store.
const replayLimit = 2 * time.Second

var replayLine = regexp.MustCompile(`^BenchmarkReplay\S*\s+\d+\s+([\d.]+) ns/op`)

// replayBenchmark runs the Go benchmark of the replay use case and judges
// it against replayLimit.
func (b *bench) replayBenchmark() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "BenchmarkReplay", "-benchtime", "5x",
		"-count", strconv.Itoa(max(b.runs, 3)), "./application/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench BenchmarkReplay: %w\n%s", err, out)
	}
	var secs []float64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := replayLine.FindStringSubmatch(sc.Text()); m != nil {
			ns, _ := strconv.ParseFloat(m[1], 64)
			secs = append(secs, ns/1e9)
		}
	}
	if len(secs) == 0 {
		return fmt.Errorf("no BenchmarkReplay results in go test output:\n%s", out)
	}
	v := median(secs)
	b.report.extra = append(b.report.extra, targetRow{
		target:   fmt.Sprintf("replay of 1,000 recorded turns offline, memory store: < %s", replayLimit),
		measured: fmt.Sprintf("%.3f s (median of %d runs)", v, len(secs)),
		compare:  "`go test -bench BenchmarkReplay ./application/`",
		status:   judge(v < replayLimit.Seconds(), ""),
	})
	return nil
}
