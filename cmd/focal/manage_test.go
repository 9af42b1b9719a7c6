package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// `agents import` puts a bundle as its agent's next version; `agents
// export` writes the current one back, as YAML for a .yaml file.
func TestAgentsImportAndExport(t *testing.T) {
	app := harness.Start(t, nil)
	admin := harness.Token(t, harness.DemoTenant, "admin")
	demo, err := os.ReadFile(filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	changed := strings.Replace(string(demo), "\nrules:\n", "\nrules:\n  - {id: gift_wrap, condition: gift wrapping, action: Offer gift wrapping.}\n", 1)
	require.NotEqual(t, string(demo), changed)
	bundle := filepath.Join(t.TempDir(), "changed.yaml")
	require.NoError(t, os.WriteFile(bundle, []byte(changed), 0o600))

	out, err := runCLI(t, "agents", "import", bundle, "--url", app.URL, "--token", admin)
	require.NoError(t, err, out)
	assert.Equal(t, "imported agent "+harness.DemoAgent+" as version 2\n", out)

	exported := filepath.Join(t.TempDir(), "exported.yaml")
	out, err = runCLI(t, "agents", "export", harness.DemoAgent, "-o", exported, "--url", app.URL, "--token", admin)
	require.NoError(t, err, out)
	got, err := os.ReadFile(exported)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(got), "agent:\n  id: "+harness.DemoAgent), "YAML: %.80s", got)
	assert.Contains(t, string(got), "id: gift_wrap")

	_, err = runCLI(t, "agents", "import", filepath.Join(t.TempDir(), "missing.yaml"), "--url", app.URL, "--token", admin)
	assert.Error(t, err)
}
