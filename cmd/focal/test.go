package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
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

// testFlags are focal test's options.
type testFlags struct {
	// junit, when set, is where a JUnit XML report of the run goes too.
	junit string
	// run and skip, when set, pick the conversations to play by name.
	run, skip string
	// timeout bounds the whole run.
	timeout time.Duration
	// api, when its url is set, is the deployment the files play against
	// instead of an in-process engine; its token flags say who plays.
	api clientFlags
	// agent is the deployed agent the files test (with --url only).
	agent string
}

// deployed reports whether the run plays against a deployment.
func (f testFlags) deployed() bool { return f.api.url != "" }

func testCommand(configPath *string) *cobra.Command {
	var flags testFlags
	cmd := &cobra.Command{
		Use:   "test (<bundle> | --url <base URL> --agent <id>) <tests.yaml>...",
		Short: "Run conversation tests against an agent bundle in process, or against a deployment",
		Long: "Load the agent bundle into an in-process engine (memory store; the model configured by FOCAL_LLM_*, " +
			"offline by default), play every conversation of each test file and report each turn. Tools a test file " +
			"stands in for (its `tools:`) are served on loopback and called over HTTP for the whole run; a conversation " +
			"without its stand-in sees the tool fail (HTTP 404). Exits non-zero " +
			"when any expectation fails.\n\n" +
			"With --url there is no bundle: the files play against a running deployment over its public API " +
			"(POST /v1/chat, then GET /v1/turns/{id} for the decisions), the agent as deployed with its model, store " +
			"and tools. The token is --token or $FOCAL_TOKEN, else one signed with $FOCAL_JWT_SECRET for --tenant, as " +
			"for focal chat. A 429 or 503 is sent again after its Retry-After (" + retryBound + "), each " +
			"turn under an Idempotency-Key of its own so a retry never records a message twice. Stand-ins cannot be " +
			"served to a deployment: a run whose conversations have any fails before sending anything, naming them.",
		Args: func(cmd *cobra.Command, args []string) error { return flags.check(cmd, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTests(cmd.Context(), cmd.OutOrStdout(), *configPath, args, flags)
		},
	}
	cmd.Flags().StringVar(&flags.junit, "junit", "", "also write a JUnit XML report to this file (written when tests fail too)")
	cmd.Flags().StringVar(&flags.run, "run", "", "play only the conversations whose name matches this regular expression (unanchored, as go test -run)")
	cmd.Flags().StringVar(&flags.skip, "skip", "", "leave out the conversations whose name matches this regular expression (unanchored, as go test -skip)")
	cmd.Flags().DurationVar(&flags.timeout, "timeout", 10*time.Minute, "fail the run when it has not finished in this long (a deployment's real model is slower than the offline one)")
	// Not $FOCAL_URL's default, as the other API commands take: --url
	// changes what is tested, and a variable left set for focal chat must
	// not turn a bundle's run into a deployment's.
	cmd.Flags().StringVar(&flags.api.url, "url", "", "play against the deployment at this base URL instead of in process (no bundle argument; "+
		"$FOCAL_URL is not read here, so a variable left set for focal chat never changes what is tested)")
	cmd.Flags().StringVar(&flags.agent, "agent", "", "with --url, the deployed agent's id (required: test files name one agent's rules and steps, "+
		"so a run names the agent rather than defaulting to a tenant's only one, which would test another agent the day a second is added)")
	flags.api.registerAuth(cmd)
	return cmd
}

// check holds the arguments to the mode: a bundle and test files in
// process; test files, --agent and no bundle against a deployment, whose
// flags mean nothing in process.
func (f testFlags) check(cmd *cobra.Command, args []string) error {
	if f.deployed() {
		if f.agent == "" {
			return errors.New("--url needs --agent: the id of the deployed agent the files test")
		}
		return cobra.MinimumNArgs(1)(cmd, args)
	}
	for _, name := range []string{"agent", "token", "tenant"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s applies only with --url (a deployment); in process the bundle names its agent", name)
		}
	}
	return cobra.MinimumNArgs(2)(cmd, args)
}

// selection compiles --run and --skip, before anything starts.
func (f testFlags) selection() (convtest.Selection, error) {
	var sel convtest.Selection
	for _, flag := range []struct {
		name, expr string
		into       **regexp.Regexp
	}{{"run", f.run, &sel.Run}, {"skip", f.skip, &sel.Skip}} {
		if flag.expr == "" {
			continue
		}
		re, err := regexp.Compile(flag.expr)
		if err != nil {
			return sel, fmt.Errorf("--%s: %w", flag.name, err)
		}
		*flag.into = re
	}
	return sel, nil
}

// selectionText names the flags that select, as they were given.
func (f testFlags) selectionText() string {
	var parts []string
	if f.run != "" {
		parts = append(parts, fmt.Sprintf("--run %q", f.run))
	}
	if f.skip != "" {
		parts = append(parts, fmt.Sprintf("--skip %q", f.skip))
	}
	return strings.Join(parts, " with ")
}

// retryBound is how the help and docs/agent-bundle.md state the bound of
// doRetrying.
var retryBound = fmt.Sprintf("at most %d attempts within %d minutes", retryTries, int(retryWithin.Minutes()))

// testStage is what plays the turns, in process or at a deployment: the
// runner to play them with, and what to stop once they are played.
type testStage struct {
	runner convtest.Runner
	stop   func()
}

// runTests checks the flags and reads every file before anything starts,
// plays the files on the stage the flags choose, and writes the JUnit
// report, when asked for, before the verdict: a failing run is when CI
// needs it most. Only the stage differs between the two modes.
func runTests(ctx context.Context, out io.Writer, configPath string, args []string, flags testFlags) error {
	ctx, cancel := context.WithTimeout(ctx, flags.timeout)
	defer cancel()
	sel, err := flags.selection()
	if err != nil {
		return err
	}
	testPaths := args
	if !flags.deployed() {
		testPaths = args[1:]
	}
	suites, err := readSuites(testPaths)
	if err != nil {
		return err
	}
	if sel != (convtest.Selection{}) && !slices.ContainsFunc(suites, func(s *convtest.Suite) bool { return len(s.Selected(sel)) > 0 }) {
		return fmt.Errorf("%s matches no conversation in %d test files: nothing would run", flags.selectionText(), len(suites))
	}
	var stage testStage
	if flags.deployed() {
		stage, err = deployedStage(suites, sel, flags)
	} else {
		stage, err = inProcessStage(ctx, configPath, args[0], suites)
	}
	if err != nil {
		return err
	}
	defer stage.stop()
	stage.runner.Select = sel
	reports, err := playSuites(ctx, out, stage.runner, suites)
	if err != nil {
		return err
	}
	if flags.junit != "" {
		if err := writeJUnitFile(flags.junit, reports); err != nil {
			return err
		}
	}
	return verdict(reports)
}

// inProcessStage starts an engine on the bundle at bundlePath, the tools
// the files stand in for served on loopback.
func inProcessStage(ctx context.Context, configPath, bundlePath string, suites []*convtest.Suite) (testStage, error) {
	stubs, err := startToolStubs()
	if err != nil {
		return testStage{}, err
	}
	stage, err := coreStage(ctx, configPath, bundlePath, suites, stubs)
	if err != nil {
		stubs.close()
		return testStage{}, err
	}
	stopCore := stage.stop
	stage.stop = func() {
		stopCore()
		stubs.close()
	}
	return stage, nil
}

// coreStage starts an engine on the bundle at bundlePath whose tools the
// files stand in for call stubs, which the caller serves and closes.
func coreStage(ctx context.Context, configPath, bundlePath string, suites []*convtest.Suite, stubs *toolStubServer) (testStage, error) {
	core, agentID, err := startTestCore(ctx, configPath, bundlePath, stubs, stubbedTools(suites))
	if err != nil {
		return testStage{}, err
	}
	return testStage{
		runner: convtest.Runner{Chat: core.Chat, Turns: core.Conversations, TenantID: testTenant, AgentID: agentID, Stubs: stubs.use},
		stop:   func() { _ = core.Stop(context.WithoutCancel(ctx)) },
	}, nil
}

// playSuites plays every file with runner and writes each file's report
// to out.
func playSuites(ctx context.Context, out io.Writer, runner convtest.Runner, suites []*convtest.Suite) ([]convtest.Report, error) {
	reports := make([]convtest.Report, 0, len(suites))
	for _, suite := range suites {
		rep := runner.Run(ctx, suite)
		if err := rep.Write(out); err != nil {
			return nil, err
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

// verdict fails the run when any expectation failed.
func verdict(reports []convtest.Report) error {
	failed := 0
	for _, rep := range reports {
		if !rep.Passed() {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d conversation test files failed", failed, len(reports))
	}
	return nil
}

// writeJUnitFile writes the JUnit report to path through a temporary file
// in the same directory renamed over it, so a CI job never reads half a
// report; a write that fails leaves the file as it was and fails the
// command, so a stale report is never taken for this run's.
func writeJUnitFile(path string, reports []convtest.Report) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			err = fmt.Errorf("--junit: %w", err)
		}
	}()
	if err = convtest.WriteJUnit(tmp, reports); err != nil {
		return err
	}
	// CreateTemp makes the file private; a report is for the CI to read.
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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
		suite.File = path
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
