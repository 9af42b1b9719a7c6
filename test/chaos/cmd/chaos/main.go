// Command chaos is `make chaos`: the full runs of test/chaos — the crash
// and outage cases on real focal processes, and the fault-injection load
// (1,000 chat requests, 5% of the commands to MongoDB faulted) — their
// results printed as JSON and their sections of docs/benchmarks.md
// rewritten. It exits non-zero when a bound or invariant did not hold, or
// a case could not run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"focal/test/chaos"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func run() error {
	uri := flag.String("mongo", os.Getenv("FOCAL_TEST_MONGO_URI"), "MongoDB test server URI")
	out := flag.String("out", "docs/benchmarks.md", "markdown file whose chaos section is rewritten (empty: none)")
	turns := flag.Int("turns", 1000, "chat requests in all")
	racing := flag.Int("race", 50, "messages racing on one session")
	concurrency := flag.Int("concurrency", 16, "requests in flight at most")
	seed := flag.Uint64("seed", 1, "seed of the fault choices")
	cases := flag.String("cases", "all", "which runs: faults (the faulty network), outages (crashes and outages), all")
	flag.Parse()
	u, err := url.Parse(*uri)
	if err != nil || u.Host == "" {
		return fmt.Errorf("a MongoDB URI is required (-mongo or FOCAL_TEST_MONGO_URI), got %q", *uri)
	}
	var failed []string
	if *cases == "all" || *cases == "outages" {
		if err := outages(u.Host, *out); err != nil {
			failed = append(failed, "outages: "+err.Error())
		}
	}
	if *cases == "all" || *cases == "faults" {
		if err := faults(u.Host, *out, *turns, *racing, *concurrency, *seed); err != nil {
			failed = append(failed, "faults: "+err.Error())
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// outages runs the crash and outage cases at full size with real focal
// processes and writes their section.
func outages(mongo, out string) error {
	dir, err := os.MkdirTemp("", "focal-chaos-bin-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin, err := chaos.BuildFocal(context.Background(), dir)
	if err != nil {
		return err
	}
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("focal-outages-%d.log", time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintln(os.Stderr, "chaos: the outage cases' services log to", logPath)
	started := time.Now()
	res, err := chaos.RunOutages(context.Background(), chaos.FullOutages(bin, mongo, logFile))
	if res != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		if out != "" {
			if werr := chaos.WriteOutageSection(out, res.Markdown(time.Now(), time.Since(started))); werr != nil {
				return werr
			}
		}
	}
	switch {
	case err != nil:
		return err
	case res.Void():
		return errors.New("void run: a case could not run")
	case !res.Passed():
		return errors.New("bounds not met")
	}
	return nil
}

// faults runs the faulty-network load in process and writes its section.
func faults(mongo, out string, turns, racing, concurrency int, seed uint64) error {
	cfg := chaos.Config{Target: mongo, Database: fmt.Sprintf("focal_chaos_%d", time.Now().UnixNano()),
		Turns: turns, DupShare: 0.1, Racing: racing, Concurrency: concurrency, Faults: chaos.DefaultFaults(seed)}
	// The service logs every failed request (with its cause) to a file;
	// the result counts them.
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("focal-chaos-%d.log", time.Now().UnixNano()))
	zc := zap.NewProductionConfig()
	zc.Level, zc.OutputPaths, zc.DisableStacktrace = zap.NewAtomicLevelAt(zap.ErrorLevel), []string{logPath}, true
	log, err := zc.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	fmt.Fprintln(os.Stderr, "chaos: the service logs to", logPath)
	started := time.Now()
	res, err := chaos.Run(context.Background(), cfg, log)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	if out != "" {
		section := res.Markdown(cfg, time.Now(), time.Since(started))
		if err := chaos.WriteSection(out, section); err != nil {
			return err
		}
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d invariant violations", len(res.Problems))
	}
	return nil
}
