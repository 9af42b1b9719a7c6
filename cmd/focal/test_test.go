package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := rootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

var repo = filepath.Join("..", "..")

// The demo agent ships with conversation tests, and they pass.
func TestDemoConversationTestsPass(t *testing.T) {
	out, err := runCLI(t, "test",
		filepath.Join(repo, "examples", "demo-agent.yaml"),
		filepath.Join(repo, "examples", "tests", "demo-agent.test.yaml"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "0 failed")
	assert.NotContains(t, out, "FAIL")
}

// A wrong expectation fails the run and the report shows, for each check,
// what was expected and what actually happened.
func TestWrongExpectationsFailWithExpectedAndActual(t *testing.T) {
	out, err := runCLI(t, "test",
		filepath.Join(repo, "examples", "demo-agent.yaml"),
		filepath.Join("testdata", "wrong-expectations.test.yaml"))
	require.Error(t, err)
	for _, want := range []string{
		`scenario: expected "returns/ask_order", got "none"`,
		`matched_rules: expected [shipping_time], got [store_hours]`,
		`reply: expected to equal "We never open.", got "Our stores are open`,
		`reply: expected to contain "24/7"`,
		`reply: expected not to contain "Sunday"`,
		`reply: expected to match /^Closed/`,
		"1 failed",
	} {
		assert.Contains(t, out, want)
	}
}

func TestConversationTestsRejectUnknownKeys(t *testing.T) {
	_, err := runCLI(t, "test", filepath.Join(repo, "examples", "demo-agent.yaml"), filepath.Join("testdata", "misspelt.test.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "matched_rule")
}
