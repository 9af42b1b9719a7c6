package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// focal replay prints what a candidate bundle changes in recorded
// conversations and exits with status 3 when a turn marked with an
// expectation changed; against the recorded version nothing changes and
// it succeeds.
func TestReplayPrintsADiffAndFailsOnBrokenExpectations(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	admin := harness.Token(t, harness.DemoTenant, "admin")
	for i, msg := range []string{"Hi there! I want to return my jacket", "What time do you open on Sunday?"} {
		body := harness.ChatBody("cli-replayed", msg)
		if i == 1 {
			body["metadata"] = map[string]any{"expect": []string{"reply"}}
		}
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: body})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	}

	demo, err := os.ReadFile(filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	edited := strings.Replace(string(demo), "  - id: store_hours\n", "  - id: store_hours\n    enabled: false\n", 1)
	require.NotEqual(t, string(demo), edited)
	bundle := filepath.Join(t.TempDir(), "new.yaml")
	require.NoError(t, os.WriteFile(bundle, []byte(edited), 0o600))

	out, err := runCLI(t, "replay", "--url", app.URL, "--token", admin, "--agent", harness.DemoAgent,
		"--bundle", bundle, "--sessions", "last:1")
	var coded *exitError
	require.True(t, errors.As(err, &coded), "%v\n%s", err, out)
	assert.Equal(t, 3, coded.ExitCode())
	assert.Equal(t, "1 expectation broken", coded.Error())
	assert.Contains(t, out, "Replayed 1 session, 2 turns of agent "+harness.DemoAgent+" against bundle "+bundle+" (model offline)")
	assert.Contains(t, out, `turn 2  "What time do you open on Sunday?"  [expectation broken]`)
	assert.Contains(t, out, "    rules        store_hours → none\n")
	assert.Contains(t, out, "    reply      - Our stores are open Monday to Saturday")
	assert.Contains(t, out, "(1 turn unchanged)")
	assert.Contains(t, out, "2 turns, 1 changed (rules 1, template 1, reply 1); 1 expected, 1 expectation broken")

	out, err = runCLI(t, "replay", "--url", app.URL, "--token", admin, "--agent", harness.DemoAgent,
		"--version", "1", "--sessions", "last:1")
	require.NoError(t, err, out)
	assert.Contains(t, out, "2 turns, 0 changed; 1 expected, 0 expectations broken")

	_, err = runCLI(t, "replay", "--url", app.URL, "--token", admin, "--agent", harness.DemoAgent, "--sessions", "last:1")
	require.ErrorContains(t, err, "a candidate is required")
}
