// Package e2e runs Focal as users do: built binaries, real processes, real
// HTTP clients.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// bannerScreen is the most lines `make run` may print before the first
// request: one terminal screen, so the token and the curl line never scroll
// away.
const bannerScreen = 25

// `make run` on a fresh checkout serves the demo agent and prints, within
// one screen, a token, a curl line that gets a full ChatResponse and the
// console URL; then one log line per request.
func TestMakeRunPrintsAWorkingCurlLine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "run", "RUN_ADDR=127.0.0.1:0")
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

	lines := make(chan string, 1024)
	go func() { // keep draining so the server never blocks on a full pipe
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var screen []string
	var curlLine, consoleURL, token string
	for consoleURL == "" {
		line, ok := <-lines
		require.True(t, ok, "make run ended before printing the console URL:\n%s", strings.Join(screen, "\n"))
		screen = append(screen, line)
		switch {
		case strings.HasPrefix(line, "curl "):
			curlLine = line
		case strings.HasPrefix(line, "Console: "):
			consoleURL = strings.TrimPrefix(line, "Console: ")
		case strings.HasPrefix(line, "eyJ"):
			token = line
		}
	}
	printed := strings.Join(screen, "\n")
	require.NotEmpty(t, token, "make run printed no token:\n%s", printed)
	require.NotEmpty(t, curlLine, "make run printed no curl line:\n%s", printed)
	assert.Contains(t, curlLine, "Bearer "+token, "the curl line uses the printed token")
	assert.True(t, strings.HasSuffix(consoleURL, "/console#token="+token), "console URL carries the token: %s", consoleURL)

	body, status := runCurlLine(t, ctx, curlLine)
	require.Equal(t, "200", status, "body: %s", body)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	for _, field := range []string{"response", "session_id", "turn_id", "scenario", "matched_rules", "tools_called", "tokens_used", "latency_ms"} {
		assert.Contains(t, res, field)
	}
	assert.NotEmpty(t, res["response"])
	page, err := http.Get(strings.TrimSuffix(consoleURL, "#token="+token))
	require.NoError(t, err)
	_ = page.Body.Close()
	assert.Equal(t, http.StatusOK, page.StatusCode, "the console URL serves the console")

	// Everything up to the line of that first request fits one screen, and
	// the request is one console-format line.
	for {
		line, ok := <-lines
		require.True(t, ok, "make run ended before logging the request:\n%s", strings.Join(screen, "\n"))
		if strings.Contains(line, "\trequest\t") {
			assert.Contains(t, line, `"route": "/v1/chat"`, "the first request logged is the curl line's")
			assert.Contains(t, line, `"status": 200`)
			break
		}
		screen = append(screen, line)
	}
	assert.LessOrEqual(t, len(screen), bannerScreen, "make run printed more than a screen before the first request:\n%s",
		strings.Join(screen, "\n"))
	t.Logf("make run printed %d lines before the first request", len(screen))
}

// runCurlLine runs the printed line as a user would, with curl: make test
// installs it (scripts/need-debian.sh), so a machine without it fails here
// instead of checking a request the line only resembles.
func runCurlLine(t *testing.T, ctx context.Context, line string) (body, status string) {
	t.Helper()
	_, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is needed to run the printed line (make test installs it)")
	out, err := exec.CommandContext(ctx, "bash", "-c", line+" -w '\\n%{http_code}'").Output()
	require.NoError(t, err, "running %s", line)
	trimmed := strings.TrimSpace(string(out))
	i := strings.LastIndex(trimmed, "\n")
	require.Positive(t, i, "curl output: %s", out)
	return trimmed[:i], trimmed[i+1:]
}

// makeRun starts `make run` with args and reads its banner: it returns
// the printed token and curl line, and a stop that ends the run (SIGTERM
// to its process group) and waits for it.
func makeRun(t *testing.T, ctx context.Context, args ...string) (token, curlLine string, stop func()) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "make", append([]string{"--no-print-directory", "run", "RUN_ADDR=127.0.0.1:0"}, args...)...)
	cmd.Dir = harness.RepoRoot()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var screen []string
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "Console: ") {
		line := sc.Text()
		screen = append(screen, line)
		if strings.HasPrefix(line, "curl ") {
			curlLine = line
		} else if strings.HasPrefix(line, "eyJ") {
			token = line
		}
	}
	require.NotEmpty(t, curlLine, "make run printed no curl line:\n%s", strings.Join(screen, "\n"))
	go func() { _, _ = io.Copy(io.Discard, stdout) }() // the server never blocks on a full pipe
	return token, curlLine, stop
}

// `make run` keeps its conversations (SQLite in RUN_DB, .state/run by
// default): after a stop and a second `make run`, the first run's session
// is still there and the demo's curl line continues it.
func TestMakeRunTwiceKeepsTheSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := "RUN_DB=" + filepath.Join(t.TempDir(), "run", "focal.db")
	chat := func(curlLine string) map[string]any {
		body, status := runCurlLine(t, ctx, curlLine)
		require.Equal(t, "200", status, "body: %s", body)
		var res map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &res))
		return res
	}

	_, curlLine, stop := makeRun(t, ctx, db)
	first := chat(curlLine)
	stop()

	token, curlLine, _ := makeRun(t, ctx, db)
	session := first["session_id"].(string)
	base, _, _ := strings.Cut(strings.Fields(curlLine)[2], "/v1/")
	if !strings.HasPrefix(base, "http") {
		base = "http://" + base
	}
	app := harness.At(base)
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + session, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "the second run has the first run's session: %s", res.Body)
	var s map[string]any
	res.JSON(t, &s)
	assert.EqualValues(t, 1, s["turn_count"])
	again := chat(curlLine)
	assert.Equal(t, session, again["session_id"], "the curl line continues the first run's session")
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + session, Token: token})
	res.JSON(t, &s)
	assert.EqualValues(t, 2, s["turn_count"])
}
