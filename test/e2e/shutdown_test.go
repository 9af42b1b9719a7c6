package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	httpapi "focal/adapters/http"
	"focal/test/harness"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// focalBinary builds cmd/focal once per test run.
func focalBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "focal-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "focal")
		out, err := exec.Command("go", "build", "-o", binPath, "./cmd/focal").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

const e2eSecret = "e2e-secret-e2e-secret-e2e-secret-0123"

func init() {
	// go build runs from the repository root.
	_ = os.Chdir(harness.RepoRoot())
}

// slowToolBundle is an agent whose only rule calls a tool before it
// answers, so a turn stays in flight while the tool holds it.
func slowToolBundle(t *testing.T, toolURL string) string {
	t.Helper()
	bundle := fmt.Sprintf(`
agent: {id: %s, tenant_id: %s, name: slow agent}
rules:
  - id: lookup
    condition: order status
    action: Look the order up.
    tool_ids: [order_lookup]
    template_ids: [status]
templates:
  - {id: status, mode: exclusive, text: "Your order is {order_state}."}
tools:
  - {id: order_lookup, url: %q, timeout_ms: 10000}
`, harness.DemoAgent, harness.DemoTenant, toolURL)
	path := filepath.Join(t.TempDir(), "slow.yaml")
	require.NoError(t, os.WriteFile(path, []byte(bundle), 0o600))
	return path
}

// SIGTERM stops new requests at once while an in-flight stream runs to its
// done event; then the process exits.
func TestSIGTERMDrainsInFlightStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	called := make(chan struct{}, 1)
	release := make(chan struct{})
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called <- struct{}{}
		<-release
		_, _ = w.Write([]byte(`{"variables":{"order_state":"on its way"}}`))
	}))
	defer tool.Close()

	addr := freeAddr(t)
	cmd := exec.Command(focalBinary(t), "serve")
	cmd.Env = append(os.Environ(), "FOCAL_HTTP_ADDR="+addr, "FOCAL_JWT_SECRET="+e2eSecret, "FOCAL_LOG_LEVEL=info",
		"FOCAL_BOOTSTRAP_BUNDLE="+slowToolBundle(t, tool.URL), "FOCAL_SHUTDOWN_DRAIN=20s",
		"FOCAL_TOOLS_ALLOWED_HOSTS="+strings.TrimPrefix(tool.URL, "http://")) // the fake tool runs on loopback
	logFile, err := os.Create(filepath.Join(t.TempDir(), "focal.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			t.Logf("server log:\n%s", out)
		}
	})
	waitListening(t, addr)

	token, err := httpapi.SignToken(e2eSecret, httpapi.TokenRequest{TenantID: harness.DemoTenant, TTL: time.Hour}, time.Now())
	require.NoError(t, err)
	body := `{"agent_id":"` + harness.DemoAgent + `","channel":"web","user_channel_id":"u1","message":"what is my order status?"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat/stream", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	streamDone := make(chan []sse.Event, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			streamDone <- nil
			return
		}
		defer res.Body.Close()
		var events []sse.Event
		for ev, err := range sse.Read(res.Body, nil) {
			if err != nil {
				break
			}
			events = append(events, ev)
		}
		streamDone <- events
	}()
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("the turn never reached the tool")
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	// New requests are refused while the stream drains.
	require.Eventually(t, func() bool {
		c := &http.Client{Timeout: time.Second}
		r, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat", strings.NewReader(body))
		if err != nil {
			return false
		}
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Content-Type", "application/json")
		res, err := c.Do(r)
		if err == nil {
			res.Body.Close()
		}
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "a new request was still accepted after SIGTERM")

	close(release)
	events := <-streamDone
	require.NotEmpty(t, events, "the in-flight stream was cut")
	last := events[len(events)-1]
	require.Equal(t, "done", last.Type, "the in-flight stream ended with its done event")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(last.Data), &done))
	assert.Equal(t, "Your order is on its way.", done["response"])

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		assert.NoError(t, err, "clean exit after draining")
	case <-time.After(15 * time.Second):
		t.Fatal("the process did not exit after draining")
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	require.Eventually(t, func() bool {
		res, err := http.Get("http://" + addr + "/v1/nothing")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	}, 60*time.Second, 20*time.Millisecond, "the server never listened on %s", addr)
}
