package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"focal/adapters/tools"
	"focal/application"
	"focal/bootstrap"
)

func lintCommand(configPath *string) *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "lint <bundle>",
		Short: "Check an agent bundle: what import refuses, and what imports but will likely not work as meant",
		Long: "Read and validate the agent bundle as import does (errors exit non-zero), then print the warnings " +
			"import returns: deprecated settings, conditions of one-word phrasings, phrasings two competing " +
			"conditions share, conditions the matcher cannot tell apart on their own examples, transitions that " +
			"can never be taken, tools at an address tool calls may not reach (loopback, private, link-local, ...) " +
			"unless the tools' allow-list exempts it. The bundle is judged by the service's configuration as serve " +
			"would read it here (--config, then FOCAL_* variables): its policy limits (FOCAL_POLICY_LIMITS) and " +
			"allow-list (FOCAL_TOOLS_ALLOWED_HOSTS). Warnings exit zero unless --strict.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Lint runs offline, on the configuration serve would read
			// here: the limits import holds a bundle to and the egress
			// tool calls go through.
			cfg, err := bootstrap.ReadConfig(*configPath)
			if err != nil {
				return err
			}
			limits, err := cfg.Policy.PolicyLimits()
			if err != nil {
				return err
			}
			egress, err := tools.NewEgress(cfg.Tools.AllowedHosts)
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			p, err := application.ParseBundle(raw)
			if err == nil {
				err = application.ValidatePolicyWithin(p, limits)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			warnings := application.LintPolicy(p, egress)
			out := cmd.OutOrStdout()
			for _, w := range warnings {
				fmt.Fprintf(out, "%s: %s: %s (%s)\n", args[0], w.Field, w.Message, w.Code)
			}
			fmt.Fprintf(out, "%s: %d warnings\n", args[0], len(warnings))
			if strict && len(warnings) > 0 {
				return fmt.Errorf("%d warnings (--strict)", len(warnings))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "exit non-zero when there are warnings")
	return cmd
}
