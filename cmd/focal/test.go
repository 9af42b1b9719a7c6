package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"focal/application"
	"focal/application/convtest"
	"focal/bootstrap"
)

// testTenant owns the agent under test; the in-process store holds nothing
// else, so any fixed id serves.
const testTenant = "00000000-0000-4000-8000-000000000001"

func testCommand(configPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "test <bundle> <tests.yaml>...",
		Short: "Run conversation tests against an agent bundle, in process",
		Long: "Load the agent bundle into an in-process engine (memory store; the model configured by FOCAL_LLM_*, " +
			"offline by default), play every conversation of each test file and report each turn. Exits non-zero " +
			"when any expectation fails.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			core, agentID, err := startTestCore(ctx, *configPath, args[0])
			if err != nil {
				return err
			}
			defer func() { _ = core.Stop(context.WithoutCancel(ctx)) }()
			failed := 0
			for _, path := range args[1:] {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				suite, err := convtest.Parse(data)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if suite.Name == "" {
					suite.Name = path
				}
				rep := convtest.Run(ctx, core.Chat, core.Conversations, testTenant, agentID, suite)
				if err := rep.Write(cmd.OutOrStdout()); err != nil {
					return err
				}
				if !rep.Passed() {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d conversation test files failed", failed, len(args)-1)
			}
			return nil
		},
	}
}

// startTestCore starts an in-process core on memory and imports the bundle.
func startTestCore(ctx context.Context, configPath, bundlePath string) (*bootstrap.Core, string, error) {
	environ := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "FOCAL_") {
			environ[k] = v
		}
	}
	environ["FOCAL_STORE"] = "memory"
	environ["FOCAL_BOOTSTRAP_BUNDLE"] = ""
	if environ["FOCAL_JWT_SECRET"] == "" && environ["FOCAL_JWT_PUBLIC_KEY_FILE"] == "" {
		// No HTTP here, but the configuration is validated as a whole.
		environ["FOCAL_JWT_SECRET"] = "conversation-tests-need-no-tokens-000"
	}
	cfg, err := bootstrap.LoadConfigEnv(configPath, environ)
	if err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(bundlePath)
	if err != nil {
		return nil, "", err
	}
	core, err := bootstrap.StartCore(ctx, cfg, zap.NewNop())
	if err != nil {
		return nil, "", err
	}
	// The same import as any other: the bundle names its agent.
	saved, err := core.Admin.ImportBundle(ctx, application.BundleImport{TenantID: testTenant, Bundle: data})
	if err != nil {
		_ = core.Stop(ctx)
		return nil, "", fmt.Errorf("%s: %w", bundlePath, err)
	}
	return core, saved.Policy.Agent.ID, nil
}
