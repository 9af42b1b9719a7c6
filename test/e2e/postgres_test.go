package e2e

import (
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
	"focal/test/pgtest"
)

// freshPostgresDB creates a database of its own on the test server for one
// test, dropped when it ends, and returns its URL.
func freshPostgresDB(t *testing.T) string { return pgtest.Database(t, "focal_e2e") }

// postgresEnv is the environment of instances sharing one database of
// their own on the PostgreSQL test server; extra adds or overrides
// settings.
func postgresEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{"FOCAL_STORE": "postgres", "FOCAL_POSTGRES_URL": freshPostgresDB(t)}
	maps.Copy(env, extra)
	return env
}

// postgresServer is a PostgreSQL server of one test's own, started by
// scripts/postgres-server.sh, which it can stop and restart on its data.
type postgresServer struct {
	t   *testing.T
	dir string
}

// startPostgres starts a server of the test's own and returns its address.
// Its directory is made under the system temp directory, which the
// postgres user can reach when the tests run as root.
func startPostgres(t *testing.T) (*postgresServer, string) {
	pgtest.ServerURL(t) // the shared server must exist, so the package is installed
	dir, err := os.MkdirTemp("", "focal-e2e-postgres-")
	require.NoError(t, err)
	s := &postgresServer{t: t, dir: dir}
	t.Cleanup(func() {
		s.run("stop")
		_ = os.RemoveAll(dir)
	})
	return s, s.run("start")
}

// run runs the script's command and returns the host:port of the URL it
// printed, if any.
func (s *postgresServer) run(command string) string {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(harness.RepoRoot(), "scripts", "postgres-server.sh"), command, s.dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(s.t, err, "postgres-server.sh %s: %s", command, stderr.String())
	line := strings.TrimSpace(string(out))
	if line == "" {
		return ""
	}
	u, err := url.Parse(line)
	require.NoError(s.t, err)
	return u.Host
}

// A PostgreSQL outage makes requests fail fast with 503 STORE_UNAVAILABLE
// and readiness report it; when the server is back (restarted on its data,
// on another port) the same process serves again, without a restart.
func TestPostgresOutageAndRecovery(t *testing.T) {
	server, addr := startPostgres(t)
	proxy := newTCPProxy(t)
	proxy.pointAt(addr)
	app := harness.Start(t, map[string]string{
		"FOCAL_STORE": "postgres", "FOCAL_POSTGRES_URL": "postgres://focal@" + proxy.Addr() + "/focal?sslmode=disable",
		"FOCAL_POSTGRES_OPERATION_TIMEOUT": "1s", "FOCAL_POSTGRES_CONNECT_TIMEOUT": "1s",
	})
	token := harness.Token(t, harness.DemoTenant)
	chat := func() *harness.Response {
		return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("outage", "store hours?")})
	}
	require.Equal(t, http.StatusOK, chat().Status)

	server.run("stop")
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

	proxy.pointAt(server.run("restart"))
	require.Eventually(t, func() bool { return chat().Status == http.StatusOK }, 30*time.Second, 200*time.Millisecond,
		"the app serves again once PostgreSQL is back")
	assert.Equal(t, http.StatusOK, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/readyz"}).Status)
	var sessions struct{ Items []map[string]any }
	app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions", Token: token}).JSON(t, &sessions)
	assert.NotEmpty(t, sessions.Items, "the session written before the outage is still there")
}
