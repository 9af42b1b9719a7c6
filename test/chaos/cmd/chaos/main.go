// Command chaos is `make chaos`: the full runs of test/chaos on each store
// (-stores: MongoDB and PostgreSQL) — the crash and outage cases on real
// focal processes, and the fault-injection load (1,000 chat requests, 5%
// of the commands to the store faulted) — their results printed as JSON
// and their sections of docs/benchmarks.md rewritten, one per store. It exits non-zero when a bound or invariant did not hold, or
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
	"slices"
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
	mongoURI := flag.String("mongo", os.Getenv("FOCAL_TEST_MONGO_URI"), "MongoDB test server URI")
	pgURL := flag.String("postgres", os.Getenv("FOCAL_TEST_POSTGRES_URL"), "PostgreSQL test server URL")
	storeList := flag.String("stores", strings.Join(chaos.Stores, ","), "which stores, comma-separated: mongo, postgres")
	out := flag.String("out", "docs/benchmarks.md", "markdown file whose chaos sections are rewritten (empty: none)")
	turns := flag.Int("turns", 1000, "chat requests in all")
	racing := flag.Int("race", 50, "messages racing on one session")
	concurrency := flag.Int("concurrency", 16, "requests in flight at most")
	seed := flag.Uint64("seed", 1, "seed of the fault choices")
	cases := flag.String("cases", "all", "which runs: faults (the faulty network), outages (crashes and outages), all")
	flag.Parse()
	if !slices.Contains([]string{"all", "faults", "outages"}, *cases) {
		return fmt.Errorf("-cases: %q is none of all, faults, outages", *cases)
	}
	stores, err := parseStores(*storeList)
	if err != nil {
		return err
	}
	targets := map[string]string{}
	for _, store := range stores {
		if targets[store], err = target(store, *mongoURI, *pgURL); err != nil {
			return err
		}
	}
	var bin string
	if *cases == "all" || *cases == "outages" {
		dir, err := os.MkdirTemp("", "focal-chaos-bin-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		if bin, err = chaos.BuildFocal(context.Background(), dir); err != nil {
			return err
		}
	}
	var failed []string
	for _, store := range stores {
		if bin != "" {
			if err := outages(bin, store, targets[store], *out); err != nil {
				failed = append(failed, fmt.Sprintf("%s outages: %v", store, err))
			}
		}
		if *cases == "all" || *cases == "faults" {
			cfg := chaos.Config{Store: store, Target: targets[store], Database: fmt.Sprintf("focal_chaos_%d", time.Now().UnixNano()),
				Turns: *turns, DupShare: 0.1, Racing: *racing, Concurrency: *concurrency, Faults: chaos.DefaultFaults(*seed)}
			if err := faults(cfg, *out); err != nil {
				failed = append(failed, fmt.Sprintf("%s faults: %v", store, err))
			}
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// parseStores reads -stores: known stores, each once, at least one.
func parseStores(list string) ([]string, error) {
	var stores []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(chaos.Stores, s) {
			return nil, fmt.Errorf("-stores: unknown store %q (known: %s)", s, strings.Join(chaos.Stores, ", "))
		}
		if !slices.Contains(stores, s) {
			stores = append(stores, s)
		}
	}
	return stores, nil
}

// target is the run's target on store: the MongoDB server's host:port, or
// the PostgreSQL server's URL.
func target(store, mongoURI, pgURL string) (string, error) {
	if store == chaos.StorePostgres {
		u, err := url.Parse(pgURL)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("a PostgreSQL URL is required (-postgres or FOCAL_TEST_POSTGRES_URL), got %q", pgURL)
		}
		return pgURL, nil
	}
	u, err := url.Parse(mongoURI)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("a MongoDB URI is required (-mongo or FOCAL_TEST_MONGO_URI), got %q", mongoURI)
	}
	return u.Host, nil
}

// outages runs the crash and outage cases at full size with real focal
// processes on store and writes their section.
func outages(bin, store, target, out string) error {
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("focal-outages-%s-%d.log", store, time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(os.Stderr, "chaos: the outage cases' services on %s log to %s\n", store, logPath)
	started := time.Now()
	res, err := chaos.RunOutages(context.Background(), chaos.FullOutages(bin, store, target, logFile))
	if res != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		if out != "" {
			if werr := chaos.WriteSection(out, chaos.OutageMarks(store), res.Markdown(time.Now(), time.Since(started))); werr != nil {
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
func faults(cfg chaos.Config, out string) error {
	// The service logs every failed request (with its cause) to a file;
	// the result counts them.
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("focal-chaos-%s-%d.log", cfg.Store, time.Now().UnixNano()))
	zc := zap.NewProductionConfig()
	zc.Level, zc.OutputPaths, zc.DisableStacktrace = zap.NewAtomicLevelAt(zap.ErrorLevel), []string{logPath}, true
	log, err := zc.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	fmt.Fprintf(os.Stderr, "chaos: the service on %s logs to %s\n", cfg.Store, logPath)
	defer func() {
		// The run's PostgreSQL database goes; MongoDB's stays on its
		// throwaway server.
		if err := chaos.DropDatabase(context.Background(), cfg.Store, cfg.Target, cfg.Database); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: drop the run's database:", err)
		}
	}()
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
		if err := chaos.WriteSection(out, chaos.FaultMarks(cfg.Store), section); err != nil {
			return err
		}
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d invariant violations", len(res.Problems))
	}
	return nil
}
