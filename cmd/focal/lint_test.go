package main

import (
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
