package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"focal/ports"
	"focal/test/harness"
)

// mongoURI is the MongoDB the tests use. make test always provides one;
// without it these tests fail rather than pass untested.
func mongoURI(t *testing.T) string {
	t.Helper()
	uri := os.Getenv("FOCAL_TEST_MONGO_URI")
	if uri == "" {
		t.Fatal("FOCAL_TEST_MONGO_URI is not set: run `make test`, or start a server with `scripts/mongo-server.sh start .state/mongo` and export the URI it prints")
	}
	return uri
}

// countingEngine counts turns across instances.
type countingEngine struct {
	inner ports.Engine
	runs  *atomic.Int32
}

func (e countingEngine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	e.runs.Add(1)
	return e.inner.RunTurn(ctx, in, sink)
}

// sharedStores are the backends several instances can share, each
// returning the environment of instances on one database of their own.
var sharedStores = []struct {
	name string
	env  func(t *testing.T, extra map[string]string) map[string]string
}{
	{"mongo", mongoEnv},
	{"postgres", postgresEnv},
}

// Two instances on one database behave as one service: one session's
// turns are serialized across them, one idempotency key runs once, and a
// rate-limit window is shared.
func TestTwoInstancesShareOneStore(t *testing.T) {
	for _, store := range sharedStores {
		t.Run(store.name, func(t *testing.T) {
			env := store.env(t, nil)
			runs := &atomic.Int32{}
			count := fx.Decorate(func(e ports.Engine) ports.Engine { return countingEngine{inner: e, runs: runs} })
			apps := []*harness.App{harness.Start(t, env, count), harness.Start(t, env, count)}
			t.Run("one session, turns from both instances", func(t *testing.T) { turnsFromBothInstances(t, apps) })
			t.Run("one idempotency key sent to both instances runs once", func(t *testing.T) { oneKeyToBothInstances(t, apps, runs) })
		})
	}
}

// turnsFromBothInstances sends one session's turns to both instances at
// once: every turn is recorded, numbered without gap or repeat.
func turnsFromBothInstances(t *testing.T, apps []*harness.App) {
	a, b := apps[0], apps[1]
	token := harness.Token(t, harness.DemoTenant)
	res := a.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("two-inst", "hello")})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var first map[string]any
	res.JSON(t, &first)
	session := first["session_id"].(string)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := harness.ChatBody("two-inst", "what time do you close?")
			body["session_id"] = session
			res := apps[i%2].Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: body})
			assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		})
	}
	wg.Wait()
	var s map[string]any
	b.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + session, Token: token}).JSON(t, &s)
	assert.EqualValues(t, n+1, s["turn_count"])
	var page struct {
		Items []struct {
			TurnNumber int `json:"turn_number"`
		} `json:"items"`
	}
	a.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + session + "/turns?limit=100", Token: token}).JSON(t, &page)
	require.Len(t, page.Items, n+1, "every turn has its record")
	for i, it := range page.Items {
		assert.Equal(t, i+1, it.TurnNumber)
	}
}

// oneKeyToBothInstances sends one Idempotency-Key to both instances at
// once: the engine runs once and both get the same answer.
func oneKeyToBothInstances(t *testing.T, apps []*harness.App, runs *atomic.Int32) {
	token := harness.Token(t, harness.DemoTenant)
	before := runs.Load()
	req := harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
		Body: harness.ChatBody("idem-two", "when are you open?"), Headers: map[string]string{"Idempotency-Key": "shared-across-instances"}}
	res := make([]*harness.Response, 2)
	var wg sync.WaitGroup
	for i := range res {
		wg.Go(func() { res[i] = apps[i].Do(t, req) })
	}
	wg.Wait()
	require.Equal(t, http.StatusOK, res[0].Status, "%s", res[0].Body)
	require.Equal(t, http.StatusOK, res[1].Status, "%s", res[1].Body)
	assert.Equal(t, res[0].Body, res[1].Body)
	assert.EqualValues(t, 1, runs.Load()-before, "the engine ran once")
}

// The rate-limit window is shared: requests counted on one instance use up
// the allowance on the other.
func TestRateLimitWindowIsSharedAcrossInstances(t *testing.T) {
	for _, store := range sharedStores {
		t.Run(store.name, func(t *testing.T) {
			env := store.env(t, map[string]string{"FOCAL_RATE_LIMIT_FREE": "4", "FOCAL_RATE_LIMIT_WINDOW": "1m"})
			a := harness.Start(t, env)
			b := harness.Start(t, env)
			token := harness.Token(t, "cccccccc-cccc-4ccc-8ccc-cccccccccccc")
			get := func(app *harness.App) *harness.Response {
				return app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions", Token: token})
			}
			for i, app := range []*harness.App{a, b, a, b} {
				assert.Equal(t, http.StatusOK, get(app).Status, "request %d", i+1)
			}
			assert.Equal(t, http.StatusTooManyRequests, get(a).Status, "the fifth request in the window, wherever it lands")
			assert.Equal(t, http.StatusTooManyRequests, get(b).Status)
		})
	}
}

// A MongoDB outage makes requests fail fast with 503 STORE_UNAVAILABLE; when
// the server is back the same process serves again, without a restart. The
// app reaches the server through a proxy whose address outlives both server
// processes, each listening on a port of its own choosing.
func TestStoreOutageAndRecovery(t *testing.T) {
	mongoURI(t) // the shared server must exist; this test runs its own besides
	bin := mongoServerBinary(t)
	dir := t.TempDir()
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-dir", dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, err := bufio.NewReader(out).ReadString('\n') // the URI, once it accepts connections
		require.NoError(t, err, "the server printed no URI")
		u, err := url.Parse(strings.TrimSpace(line))
		require.NoError(t, err)
		require.Equal(t, "mongodb", u.Scheme, "first line: %q", line)
		return cmd, u.Host
	}
	stop := func(cmd *exec.Cmd) {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}
	proxy := newTCPProxy(t)
	server, addr := start()
	t.Cleanup(func() { stop(server) })
	proxy.pointAt(addr)

	app := harness.Start(t, map[string]string{
		"FOCAL_STORE": "mongo", "FOCAL_MONGO_ALLOW_STANDALONE": "true", "FOCAL_MONGO_URI": "mongodb://" + proxy.Addr() + "/", "FOCAL_MONGO_DB": "focal_outage",
		"FOCAL_MONGO_OPERATION_TIMEOUT": "1s", "FOCAL_MONGO_SERVER_SELECTION_TIMEOUT": "1s",
	})
	token := harness.Token(t, harness.DemoTenant)
	chat := func() *harness.Response {
		return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("outage", "store hours?")})
	}
	require.Equal(t, http.StatusOK, chat().Status)

	stop(server)
	proxy.pointAt("")
	began := time.Now()
	res := chat()
	elapsed := time.Since(began)
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
	assert.Contains(t, string(res.Body), "STORE_UNAVAILABLE")
	assert.Less(t, elapsed, 10*time.Second, "answered within the store timeouts, not hung")
	ready := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/readyz"})
	assert.Equal(t, http.StatusServiceUnavailable, ready.Status, "readiness reports the outage")
	assert.Contains(t, string(ready.Body), "STORE_UNAVAILABLE")

	server, addr = start()
	proxy.pointAt(addr)
	require.Eventually(t, func() bool { return chat().Status == http.StatusOK }, 30*time.Second, 200*time.Millisecond,
		"the app serves again once MongoDB is back")
	assert.Equal(t, http.StatusOK, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/readyz"}).Status)
}

var (
	mongoServerOnce sync.Once
	mongoServerPath string
	mongoServerErr  error
)

// mongoServerBinary builds the FerretDB test server program once per run
// into a directory of its own, or uses FOCAL_TEST_MONGOSERVER_BIN.
func mongoServerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FOCAL_TEST_MONGOSERVER_BIN"); p != "" {
		return p
	}
	mongoServerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "focal-e2e-mongoserver-")
		if err != nil {
			mongoServerErr = err
			return
		}
		mongoServerPath = filepath.Join(dir, "mongoserver")
		cmd := exec.Command("go", "build", "-o", mongoServerPath, ".")
		cmd.Dir = filepath.Join(harness.RepoRoot(), "test", "mongoserver")
		if msg, err := cmd.CombinedOutput(); err != nil {
			mongoServerErr = fmt.Errorf("building test/mongoserver: %v: %s", err, strings.TrimSpace(string(msg)))
		}
	})
	require.NoError(t, mongoServerErr)
	return mongoServerPath
}
