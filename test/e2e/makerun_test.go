// Package e2e runs Focal as users do: built binaries, real processes, real
// HTTP clients.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// `make run` on a fresh checkout serves the demo agent, prints a token and
// a curl line, and that curl line gets a full ChatResponse.
func TestMakeRunPrintsAWorkingCurlLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "run", "RUN_ADDR="+addr)
	cmd.Dir = harness.RepoRoot()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})

	var curlLine string
	var output []string
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		line := lines.Text()
		output = append(output, line)
		if strings.HasPrefix(line, "curl ") {
			curlLine = line
		}
		if strings.Contains(line, "listening") {
			break
		}
	}
	require.NotEmpty(t, curlLine, "make run printed no curl line:\n%s", strings.Join(output, "\n"))
	go func() { // keep draining so the server never blocks on a full pipe
		for lines.Scan() {
		}
	}()

	out, err := exec.CommandContext(ctx, "bash", "-c", curlLine+" -w '\\n%{http_code}'").Output()
	require.NoError(t, err, "running %s", curlLine)
	trimmed := strings.TrimSpace(string(out))
	i := strings.LastIndex(trimmed, "\n")
	require.Positive(t, i, "curl output: %s", out)
	body, status := trimmed[:i], trimmed[i+1:]
	require.Equal(t, "200", status, "body: %s", body)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	for _, field := range []string{"response", "session_id", "turn_id", "scenario", "matched_rules", "tools_called", "tokens_used", "latency_ms"} {
		assert.Contains(t, res, field)
	}
	assert.NotEmpty(t, res["response"])
}
