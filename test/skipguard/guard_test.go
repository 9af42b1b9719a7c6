package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// events builds a `go test -json` stream from lines written the way
// cmd/test2json writes them.
func events(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

const pkg = "focal/test/component"

var skippedRun = events(
	`{"Action":"start","Package":"focal/test/component"}`,
	`{"Action":"run","Package":"focal/test/component","Test":"TestServes"}`,
	`{"Action":"output","Package":"focal/test/component","Test":"TestServes","Output":"=== RUN   TestServes\n"}`,
	`{"Action":"output","Package":"focal/test/component","Test":"TestServes","Output":"--- PASS: TestServes (0.01s)\n"}`,
	`{"Action":"pass","Package":"focal/test/component","Test":"TestServes","Elapsed":0.01}`,
	`{"Action":"run","Package":"focal/test/component","Test":"TestPolicy/refresh"}`,
	`{"Action":"output","Package":"focal/test/component","Test":"TestPolicy/refresh","Output":"=== RUN   TestPolicy/refresh\n"}`,
	`{"Action":"output","Package":"focal/test/component","Test":"TestPolicy/refresh","Output":"    policy_test.go:652: covered elsewhere\n"}`,
	`{"Action":"output","Package":"focal/test/component","Test":"TestPolicy/refresh","Output":"--- SKIP: TestPolicy/refresh (0.00s)\n"}`,
	`{"Action":"skip","Package":"focal/test/component","Test":"TestPolicy/refresh","Elapsed":0}`,
	`{"Action":"output","Package":"focal/test/component","Output":"PASS\n"}`,
	`{"Action":"output","Package":"focal/test/component","Output":"ok  \tfocal/test/component\t0.05s\n"}`,
	`{"Action":"pass","Package":"focal/test/component","Elapsed":0.05}`,
	`{"Action":"output","Package":"focal/adapters/clock","Output":"?   \tfocal/adapters/clock\t[no test files]\n"}`,
	`{"Action":"skip","Package":"focal/adapters/clock","Elapsed":0}`,
)

func guardRun(t *testing.T, stream, allow string) (Summary, string) {
	t.Helper()
	list, err := ParseAllowList(strings.NewReader(allow))
	require.NoError(t, err)
	var out strings.Builder
	sum, err := Run(strings.NewReader(stream), &out, list)
	require.NoError(t, err)
	return sum, out.String()
}

func TestASkipOutsideTheAllowListFails(t *testing.T) {
	sum, out := guardRun(t, skippedRun, "")
	assert.False(t, sum.OK(), "a skip outside the allow list fails the run:\n%s", out)
	assert.Equal(t, []string{pkg + " TestPolicy/refresh"}, sum.Unexpected)
	assert.Equal(t, 1, sum.Passed)
	assert.Equal(t, 1, sum.Skipped)
	assert.Contains(t, out, "policy_test.go:652: covered elsewhere", "the skip's reason is shown")
	assert.Contains(t, out, "ok  \tfocal/test/component\t0.05s", "package results are shown")
	assert.NotContains(t, out, "no test files", "packages without tests are not noise")
}

func TestAnAllowListedSkipPasses(t *testing.T) {
	sum, out := guardRun(t, skippedRun, "# why each may skip\n"+pkg+" TestPolicy/refresh  needs hardware the CI machine lacks\n")
	assert.True(t, sum.OK(), "%s", out)
	assert.Equal(t, 1, sum.AllowedSkips)
	assert.Empty(t, sum.Unexpected)
	assert.NotContains(t, out, "covered elsewhere", "an allowed skip is not reported")

	// The entry names one test: its parent or siblings may not skip.
	sum, _ = guardRun(t, skippedRun, pkg+" TestPolicy the parent only\n")
	assert.False(t, sum.OK())
}

func TestFailuresShowTheirOutputAndFail(t *testing.T) {
	stream := events(
		`{"Action":"run","Package":"focal/domain","Test":"TestX"}`,
		`{"Action":"output","Package":"focal/domain","Test":"TestX","Output":"=== RUN   TestX\n"}`,
		`{"Action":"output","Package":"focal/domain","Test":"TestX","Output":"    x_test.go:9: want 2, got 3\n"}`,
		`{"Action":"output","Package":"focal/domain","Test":"TestX","Output":"--- FAIL: TestX (0.00s)\n"}`,
		`{"Action":"fail","Package":"focal/domain","Test":"TestX","Elapsed":0}`,
		`{"Action":"output","Package":"focal/domain","Output":"FAIL\n"}`,
		`{"Action":"output","Package":"focal/domain","Output":"FAIL\tfocal/domain\t0.01s\n"}`,
		`{"Action":"fail","Package":"focal/domain","Elapsed":0.01}`,
	)
	sum, out := guardRun(t, stream, "")
	assert.False(t, sum.OK())
	assert.Equal(t, 1, sum.Failed)
	assert.Equal(t, 1, sum.FailedPackages)
	assert.Contains(t, out, "x_test.go:9: want 2, got 3")
	assert.Contains(t, out, "FAIL\tfocal/domain\t0.01s")
}

func TestATestThatNeverEndsFails(t *testing.T) {
	// A test binary that dies (timeout, crash) leaves its running test
	// without a final event.
	stream := events(
		`{"Action":"run","Package":"focal/domain","Test":"TestHang"}`,
		`{"Action":"output","Package":"focal/domain","Test":"TestHang","Output":"=== RUN   TestHang\n"}`,
		`{"Action":"output","Package":"focal/domain","Test":"TestHang","Output":"panic: test timed out after 10m0s\n"}`,
	)
	sum, out := guardRun(t, stream, "")
	assert.False(t, sum.OK())
	assert.Contains(t, out, "TestHang never finished")
	assert.Contains(t, out, "panic: test timed out")
}

func TestBuildFailuresAndEmptyInputFail(t *testing.T) {
	stream := events(
		`{"ImportPath":"focal/domain","Action":"build-output","Output":"domain/x.go:3:1: syntax error\n"}`,
		`{"ImportPath":"focal/domain","Action":"build-fail"}`,
		`{"Action":"run","Package":"focal/ports","Test":"TestY"}`,
		`{"Action":"pass","Package":"focal/ports","Test":"TestY"}`,
	)
	sum, out := guardRun(t, stream, "")
	assert.False(t, sum.OK())
	assert.Equal(t, []string{"focal/domain"}, sum.BuildFailures)
	assert.Contains(t, out, "syntax error")

	sum, out = guardRun(t, "", "")
	assert.False(t, sum.OK(), "no test at all is not a pass")
	assert.Contains(t, out, "no test ran")
}

func TestAllowListEntriesNeedAReason(t *testing.T) {
	_, err := ParseAllowList(strings.NewReader(pkg + " TestX\n"))
	assert.ErrorContains(t, err, "line 1")
	_, err = ParseAllowList(strings.NewReader(pkg + " TestX why\n" + pkg + " TestX again\n"))
	assert.ErrorContains(t, err, "twice")
}

// The guard reads what this machine's go test really writes: a throwaway
// module with one passing and one skipping test.
func TestRealGoTestOutput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600))
	}
	write("go.mod", "module skipper\n\ngo 1.21\n")
	write("skipper_test.go", `package skipper

import "testing"

func TestRuns(t *testing.T) {}

func TestHides(t *testing.T) {
	t.Run("sub", func(t *testing.T) { t.Skip("nothing to test against") })
}
`)
	cmd := exec.Command("go", "test", "-count=1", "-json", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	raw, err := cmd.Output()
	require.NoError(t, err, "go test: %s", raw)

	sum, out := guardRun(t, string(raw), "")
	assert.False(t, sum.OK(), "%s", out)
	assert.Equal(t, []string{"skipper TestHides/sub"}, sum.Unexpected)
	assert.Contains(t, out, "nothing to test against")
	assert.Equal(t, 2, sum.Passed, "TestRuns and the parent TestHides")

	sum, out = guardRun(t, string(raw), "skipper TestHides/sub it only shows the guard at work\n")
	assert.True(t, sum.OK(), "%s", out)
}
