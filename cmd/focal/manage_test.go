package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
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

// A YAML bundle denser than a server reads as YAML (a YAML export of a
// large agent can be) is imported all the same: the CLI reads it and
// sends the policy as JSON. Each rule lists as many template ids as a list
// may hold, so that few rules (1,500, which the server compiles and lints
// in a few seconds under -race) cross the bound every YAML body has
// whatever its size (262,144 nodes; these rules may hold 327,030).
func TestAgentsImportOfADenseYAMLBundle(t *testing.T) {
	app := harness.Start(t, nil)
	admin := harness.Token(t, harness.DemoTenant, "admin")
	var b strings.Builder
	b.WriteString("agent: {id: 7c9e6679-7425-40de-944b-e07fc1f90ae7, name: dense}\ntemplates: [{id: t, text: hi, mode: suggest}]\nrules:\n")
	ids := "[" + strings.TrimSuffix(strings.Repeat("t, ", 100), ", ") + "]"
	for i := range 1_500 {
		fmt.Fprintf(&b, "  - {id: r%d, condition: ask %d, action: x, template_ids: %s}\n", i, i, ids)
	}
	_, err := application.ParseBundle([]byte(b.String()))
	require.ErrorContains(t, err, "too dense to read as YAML", "the bundle must be one a server refuses as YAML")
	bundle := filepath.Join(t.TempDir(), "dense.yaml")
	require.NoError(t, os.WriteFile(bundle, []byte(b.String()), 0o600))

	out, err := runCLI(t, "agents", "import", bundle, "--url", app.URL, "--token", admin)
	require.NoError(t, err, out)
	assert.Equal(t, "imported agent 7c9e6679-7425-40de-944b-e07fc1f90ae7 as version 1\n", out)
	res := app.Do(t, harness.Request{Method: "GET", Path: "/v1/agents/7c9e6679-7425-40de-944b-e07fc1f90ae7/bundle", Token: admin})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	var got struct {
		Rules []struct {
			ID          string   `json:"id"`
			TemplateIDs []string `json:"template_ids"`
		} `json:"rules"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &got))
	require.Len(t, got.Rules, 1_500)
	assert.Equal(t, "r1499", got.Rules[1499].ID)
	assert.Len(t, got.Rules[1499].TemplateIDs, 100)
}
