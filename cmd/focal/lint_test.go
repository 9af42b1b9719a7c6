package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// focal lint judges tool addresses by this environment's
// FOCAL_TOOLS_ALLOWED_HOSTS: the demo's tool, on loopback, can be called
// only where the operator allows its host, as make run does.
func TestLintWarnsOfToolAddressesToolCallsMayNotReach(t *testing.T) {
	demo := filepath.Join(repo, "examples", "demo-agent.yaml")
	t.Setenv("FOCAL_TOOLS_ALLOWED_HOSTS", "")
	out, err := runCLI(t, "lint", demo)
	require.NoError(t, err, "a warning alone does not fail: %s", out)
	assert.Contains(t, out, "demo-agent.yaml: tools[0].url: tool order_lookup can never be called from this service: "+
		"127.0.0.1 is loopback (127.0.0.0/8), which tool calls may not reach unless an operator lists the host in "+
		"FOCAL_TOOLS_ALLOWED_HOSTS (tool_address_refused)")
	assert.Contains(t, out, "demo-agent.yaml: 1 warnings")

	t.Setenv("FOCAL_TOOLS_ALLOWED_HOSTS", "crm.internal, "+demoToolsAddr)
	out, err = runCLI(t, "lint", "--strict", demo)
	require.NoError(t, err, out)
	assert.Contains(t, out, "demo-agent.yaml: 0 warnings")

	t.Setenv("FOCAL_TOOLS_ALLOWED_HOSTS", "http://"+demoToolsAddr)
	_, err = runCLI(t, "lint", demo)
	require.ErrorContains(t, err, "FOCAL_TOOLS_ALLOWED_HOSTS", "an allow-list serve would refuse is refused here too")
}

// focal lint reads the service's configuration as serve does: a --config
// file's allow-list exempts the demo's tool, and its policy limits (or
// FOCAL_POLICY_LIMITS over them) refuse a bundle import would refuse,
// with no token secret or store set.
func TestLintJudgesByTheServicesConfiguration(t *testing.T) {
	demo := filepath.Join(repo, "examples", "demo-agent.yaml")
	t.Setenv("FOCAL_TOOLS_ALLOWED_HOSTS", "")
	t.Setenv("FOCAL_JWT_SECRET", "")
	config := filepath.Join(t.TempDir(), "focal.yaml")
	require.NoError(t, os.WriteFile(config, []byte("tools:\n  allowed_hosts: [\""+demoToolsAddr+"\"]\n"), 0o600))
	out, err := runCLI(t, "lint", "--strict", "--config", config, demo)
	require.NoError(t, err, out)
	assert.Contains(t, out, "demo-agent.yaml: 0 warnings")

	require.NoError(t, os.WriteFile(config, []byte("policy:\n  limits: {rules: 5}\n"), 0o600))
	out, err = runCLI(t, "lint", "--config", config, demo)
	require.ErrorContains(t, err, "rules", out)
	assert.ErrorContains(t, err, "5")

	t.Setenv("FOCAL_POLICY_LIMITS", "rules=100")
	out, err = runCLI(t, "lint", "--config", config, demo)
	require.NoError(t, err, "the variable overrides the file: %s", out)
}
