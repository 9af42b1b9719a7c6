// Command eval prepares and reports `make eval` (scripts/eval.sh):
//
//	go run ./test/eval bundles -out .state/eval
//	go run ./test/eval report  -results .state/eval -out docs/evaluation.md
//
// bundles writes the bundles and data files the evaluation runs `focal
// eval` on, generated from Banking77 (testdata/banking77; its test split
// relabelled with the rules' ids):
// one rule per intent with its first 10, 30 or all training phrasings, the
// same with every fifth intent left out (its test messages then out of
// scope), and policies of 150 and 10,000 rules for matching time. report
// reads the results `focal eval --json` wrote (<run>.json) and writes the
// report, whose verdicts are computed from them.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"focal/application"
	"focal/application/evaluation"
	"focal/application/labelled"
	"focal/domain"
)

// evalAgent is the id of every generated agent.
const evalAgent = "9b2d7f6e-5a1c-4e3b-8f0a-2c4d6e8f0a1b"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: eval bundles|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bundles":
		err = runBundles(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

// scaleMessages is how many test messages the matching-time runs send.
const scaleMessages = 400

func runBundles(args []string) error {
	fs := flag.NewFlagSet("bundles", flag.ExitOnError)
	out := fs.String("out", ".state/eval", "directory to write to")
	data := fs.String("data", "testdata/banking77", "Banking77's directory (train.csv, test.csv)")
	_ = fs.Parse(args)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	train, err := readLabelled(filepath.Join(*data, "train.csv"))
	if err != nil {
		return err
	}
	test, err := readLabelled(filepath.Join(*data, "test.csv"))
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for i, l := range labelled.Labels(train) {
		held[l] = (i+1)%5 == 0
	}
	files := map[string][]byte{}
	for name, p := range map[string]*domain.Policy{
		evaluation.RunBanking77Few:  labelled.Bundle(evalAgent, "Banking77, 10 per intent", train, 10, nil),
		evaluation.RunBanking77Some: labelled.Bundle(evalAgent, "Banking77, 30 per intent", train, 30, nil),
		evaluation.RunBanking77All:  labelled.Bundle(evalAgent, "Banking77, all", train, 0, nil),
		evaluation.RunBanking77OOS:  labelled.Bundle(evalAgent, "Banking77, 10 per intent, every fifth intent left out", train, 10, held),
		evaluation.RunScaleSmall:    labelled.ScaleBundle(evalAgent, train, 150, 7),
		evaluation.RunScaleLarge:    labelled.ScaleBundle(evalAgent, train, 10_000, 7),
	} {
		if files[name+".yaml"], err = application.EncodeBundleYAML(p); err != nil {
			return err
		}
	}
	var relabelled, oos, scale []labelled.Labelled
	for i, r := range test {
		held := held[r.Label]
		r.Label = labelled.RuleID(r.Label)
		relabelled = append(relabelled, r)
		if held {
			r.Label = ""
		}
		oos = append(oos, r)
		if i%(len(test)/scaleMessages) == 0 && len(scale) < scaleMessages {
			scale = append(scale, labelled.Labelled{Text: r.Text})
		}
	}
	for name, rows := range map[string][]labelled.Labelled{"banking77-test.csv": relabelled,
		"banking77-test-oos.csv": oos, "scale-messages.csv": scale, "scale-long-messages.csv": longMessages(test)} {
		if files[name], err = labelled.Write(rows); err != nil {
			return err
		}
	}
	for name, raw := range files {
		if err := os.WriteFile(filepath.Join(*out, name), raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// longMessages are messages of the longest length a turn takes
// (application.MaxMessageRunes), in the shapes that cost matching the
// most: test phrasings one after another from eight places in the split,
// one word said over and over, one word as long as a message, and digits.
func longMessages(test []labelled.Labelled) []labelled.Labelled {
	cut := func(s string) string { return string([]rune(s)[:application.MaxMessageRunes]) }
	var out []labelled.Labelled
	for start := 0; start < len(test); start += len(test) / 8 {
		var b strings.Builder
		for i := start; b.Len() < 2*application.MaxMessageRunes; i = (i + 1) % len(test) {
			b.WriteString(test[i].Text)
			b.WriteString(" ")
		}
		out = append(out, labelled.Labelled{Text: cut(b.String())})
	}
	for _, s := range []string{"card ", "a", "7"} {
		out = append(out, labelled.Labelled{Text: cut(strings.Repeat(s, application.MaxMessageRunes))})
	}
	return out
}

func readLabelled(path string) ([]labelled.Labelled, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return labelled.Read(path, raw)
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	results := fs.String("results", ".state/eval", "directory of the <run>.json results")
	out := fs.String("out", "docs/evaluation.md", "report to write")
	_ = fs.Parse(args)
	runs := map[string]*evaluation.Result{}
	for _, name := range []string{evaluation.RunBanking77Few, evaluation.RunBanking77Some, evaluation.RunBanking77All,
		evaluation.RunBanking77OOS, evaluation.RunDemo, evaluation.RunScaleSmall, evaluation.RunScaleLarge,
		evaluation.RunScaleSmallLong, evaluation.RunScaleLargeLong} {
		raw, err := os.ReadFile(filepath.Join(*results, name+".json"))
		if os.IsNotExist(err) {
			continue // reported as not measured
		}
		if err != nil {
			return err
		}
		var r evaluation.Result
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("%s.json: %w", name, err)
		}
		runs[name] = &r
	}
	about := fmt.Sprintf("Measured on %s/%s with %d CPUs (GOMAXPROCS %d), %s; the matcher reads words only (no embedder).",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.TrimPrefix(runtime.Version(), "go"))
	// Times depend on what else the machine runs; say how busy it was.
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(load)); len(f) >= 3 {
			about += fmt.Sprintf(" Load average when the report was written: %s, %s, %s (1, 5, 15 minutes).", f[0], f[1], f[2])
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := evaluation.WriteReport(f, runs, about); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
