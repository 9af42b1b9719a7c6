package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
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
			"offline by default), play every conversation of each test file and report each turn. Tools a test file " +
			"stands in for (its `tools:`) are served on loopback and called over HTTP for the whole run; a conversation " +
			"without its stand-in sees the tool fail (HTTP 404). Exits non-zero " +
			"when any expectation fails.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			suites, err := readSuites(args[1:])
			if err != nil {
				return err
			}
			stubs, err := startToolStubs()
			if err != nil {
				return err
			}
			defer stubs.close()
			return runSuites(ctx, cmd.OutOrStdout(), *configPath, args[0], suites, stubs)
		},
	}
}

// runSuites plays every file's conversations against the bundle at
// bundlePath, the tools the files stand in for served by stubs, and writes
// each file's report to out.
func runSuites(ctx context.Context, out io.Writer, configPath, bundlePath string, suites []*convtest.Suite, stubs *toolStubServer) error {
	core, agentID, err := startTestCore(ctx, configPath, bundlePath, stubs, stubbedTools(suites))
	if err != nil {
		return err
	}
	defer func() { _ = core.Stop(context.WithoutCancel(ctx)) }()
	failed := 0
	for _, suite := range suites {
		rep := convtest.Run(ctx, core.Chat, core.Conversations, testTenant, agentID, suite, stubs.use)
		if err := rep.Write(out); err != nil {
			return err
		}
		if !rep.Passed() {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d conversation test files failed", failed, len(suites))
	}
	return nil
}

// readSuites parses every test file before anything starts, so a mistake
// in the last file costs no run.
func readSuites(paths []string) ([]*convtest.Suite, error) {
	suites := make([]*convtest.Suite, 0, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		suite, err := convtest.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if suite.Name == "" {
			suite.Name = path
		}
		suites = append(suites, suite)
	}
	return suites, nil
}

// stubbedTools are the tools any of the files stands in for.
func stubbedTools(suites []*convtest.Suite) []string {
	var ids []string
	for _, s := range suites {
		ids = append(ids, s.StubbedTools()...)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// startTestCore starts an in-process core on memory and imports the bundle.
// Tools in stubbed call the stand-ins, which the tools may reach.
func startTestCore(ctx context.Context, configPath, bundlePath string, stubs *toolStubServer, stubbed []string) (*bootstrap.Core, string, error) {
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
	if len(stubbed) > 0 {
		environ["FOCAL_TOOLS_ALLOWED_HOSTS"] = strings.TrimPrefix(environ["FOCAL_TOOLS_ALLOWED_HOSTS"]+","+stubs.host(), ",")
	}
	cfg, err := bootstrap.LoadConfigEnv(configPath, environ)
	if err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(bundlePath)
	if err != nil {
		return nil, "", err
	}
	if data, err = pointToolsAt(data, stubbed, stubs.url); err != nil {
		return nil, "", fmt.Errorf("%s: %w", bundlePath, err)
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
