// Command chaos is `make chaos`: the full fault-injection run of
// test/chaos (1,000 chat requests, 5% of the commands to MongoDB faulted),
// its result printed as JSON and its section of docs/benchmarks.md
// rewritten. It exits non-zero when an invariant did not hold.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
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
	flag.Parse()
	u, err := url.Parse(*uri)
	if err != nil || u.Host == "" {
		return fmt.Errorf("a MongoDB URI is required (-mongo or FOCAL_TEST_MONGO_URI), got %q", *uri)
	}
	cfg := chaos.Config{Target: u.Host, Database: fmt.Sprintf("focal_chaos_%d", time.Now().UnixNano()),
		Turns: *turns, DupShare: 0.1, Racing: *racing, Concurrency: *concurrency, Faults: chaos.DefaultFaults(*seed)}
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
	if *out != "" {
		section := res.Markdown(cfg, time.Now(), time.Since(started))
		if err := chaos.WriteSection(*out, section); err != nil {
			return err
		}
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d invariant violations", len(res.Problems))
	}
	return nil
}
