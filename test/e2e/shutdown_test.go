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
	called := make(chan struct{}, 1)
	release := make(chan struct{})
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case called <- struct{}{}:
		default:
		}
		<-release
		_, _ = w.Write([]byte(`{"variables":{"order_state":"on its way"}}`))
	}))
	defer tool.Close()
	releaseTool := sync.OnceFunc(func() { close(release) })
	defer releaseTool()

	focal := serveFocal(t, "FOCAL_JWT_SECRET="+e2eSecret, "FOCAL_BOOTSTRAP_BUNDLE="+slowToolBundle(t, tool.URL),
		"FOCAL_SHUTDOWN_DRAIN=20s",
		"FOCAL_TOOLS_ALLOWED_HOSTS="+strings.TrimPrefix(tool.URL, "http://")) // the fake tool runs on loopback
	token, err := httpapi.SignToken(e2eSecret, httpapi.TokenRequest{TenantID: harness.DemoTenant, TTL: time.Hour}, time.Now())
	require.NoError(t, err)
	body := `{"agent_id":"` + harness.DemoAgent + `","channel":"web","user_channel_id":"u1","message":"what is my order status?"}`
	newRequest := func(path string) *http.Request {
		req, err := http.NewRequest(http.MethodPost, "http://"+focal.addr+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	type streamed struct {
		events []sse.Event
		check  harness.Exchange
	}
	req := newRequest("/v1/chat/stream")
	streamDone := make(chan streamed, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			streamDone <- streamed{}
			return
		}
		defer res.Body.Close()
		seen := harness.Record(res)
		var events []sse.Event
		for ev, err := range sse.Read(res.Body, nil) {
			if err != nil {
				break
			}
			events = append(events, ev)
		}
		streamDone <- streamed{events, harness.Exchange{Request: req, RequestBody: []byte(body), Response: res, Body: seen.Bytes()}}
	}()
	select {
	case <-called:
	case <-time.After(30 * time.Second):
		t.Fatal("the turn never reached the tool")
	}

	require.NoError(t, focal.cmd.Process.Signal(syscall.SIGTERM))
	// New requests are refused while the stream drains.
	require.Eventually(t, func() bool {
		c := &http.Client{Timeout: time.Second}
		res, err := c.Do(newRequest("/v1/chat"))
		if err == nil {
			res.Body.Close()
		}
		return err != nil
	}, 10*time.Second, 20*time.Millisecond, "a new request was still accepted after SIGTERM")

	releaseTool() // the in-flight turn's tool answers
	got := <-streamDone
	require.NotEmpty(t, got.events, "the in-flight stream was cut")
	harness.CheckExchange(t, got.check)
	last := got.events[len(got.events)-1]
	require.Equal(t, "done", last.Type, "the in-flight stream ended with its done event")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(last.Data), &done))
	assert.Equal(t, "Your order is on its way.", done["response"])

	exited := make(chan error, 1)
	go func() { exited <- focal.wait() }()
	select {
	case err := <-exited:
		assert.NoError(t, err, "clean exit after draining")
	case <-time.After(30 * time.Second):
		t.Fatal("the process did not exit after draining")
	}
}

// A SIGTERM that arrives as soon as the server listens, while start-up
// may still be finishing, is a graceful stop like any other: the process
// drains and exits cleanly instead of dying of the signal.
func TestSIGTERMAtOnceAfterListeningStopsCleanly(t *testing.T) {
	focal := serveFocal(t, "FOCAL_JWT_SECRET="+e2eSecret)
	require.NoError(t, focal.cmd.Process.Signal(syscall.SIGTERM))
	exited := make(chan error, 1)
	go func() { exited <- focal.wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "a clean exit, not death by the signal")
	case <-time.After(30 * time.Second):
		t.Fatal("the process did not exit after SIGTERM")
	}
}
