package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"focal/application"
	"focal/application/evaluation"
	"focal/domain"
)

func evalCommand(configPath *string) *cobra.Command {
	var jsonOut string
	cmd := &cobra.Command{
		Use:   "eval <bundle> <data>",
		Short: "Measure how well an agent decides, on labelled messages, in process",
		Long: "Load the agent bundle into an in-process engine (memory store; the model configured by FOCAL_LLM_*, " +
			"offline by default), send every labelled message of the data file as a user would, and print how many " +
			"turns matched exactly the expected rules and step, top-1 accuracy, macro-F1, out-of-scope recall when the " +
			"data has out-of-scope messages, the most confused pairs and the per-turn matching time.\n\n" +
			"The data is a CSV with columns text and category (or label; an empty label expects no rule to match), or " +
			"a YAML file of conversations whose turns name the rules that must match and the step they end in " +
			"(see testdata/eval/demo-agent.yaml).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Hour)
			defer cancel()
			bundlePath, dataPath := args[0], args[1]
			data, err := os.ReadFile(dataPath)
			if err != nil {
				return err
			}
			ds, err := evaluation.ParseDataset(dataPath, data)
			if err != nil {
				return err
			}
			rules, examples, compile, err := measureCompile(bundlePath)
			if err != nil {
				return err
			}
			core, agentID, err := startTestCore(ctx, *configPath, bundlePath, nil, nil)
			if err != nil {
				return err
			}
			defer func() { _ = core.Stop(context.WithoutCancel(ctx)) }()
			obs, err := evaluation.Run(ctx, core.Chat, core.Conversations, testTenant, agentID, ds)
			if err != nil {
				return err
			}
			r := evaluation.Score(obs)
			r.Dataset, r.Bundle, r.Rules, r.Examples = ds.Name, bundlePath, rules, examples
			r.CompileMS = float64(compile.Microseconds()) / 1000
			if err := evaluation.WriteSummary(cmd.OutOrStdout(), &r); err != nil {
				return err
			}
			if jsonOut == "" {
				return nil
			}
			out, err := json.MarshalIndent(&r, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(jsonOut, append(out, '\n'), 0o644)
		},
	}
	cmd.Flags().StringVar(&jsonOut, "json", "", "also write the result to this file as JSON (make eval reads it)")
	return cmd
}

// compileRuns is how many times measureCompile compiles the policy: the
// fastest run is the one least disturbed by whatever else the machine runs.
const compileRuns = 3

// measureCompile reads a bundle and times compiling its policy (the
// fastest of compileRuns): the matcher trains on every example, once per
// policy version.
func measureCompile(path string) (rules, examples int, took time.Duration, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	p, err := application.ParseBundle(raw)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	for i := range compileRuns {
		start := time.Now()
		if _, err := domain.CompilePolicy(p); err != nil {
			return 0, 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		if d := time.Since(start); i == 0 || d < took {
			took = d
		}
	}
	return len(p.Rules), len(domain.ExampleTexts(p)), took, nil
}
