// Package harness boots the real Focal application (fx, every module, a real
// listener on loopback) for component and end-to-end tests, and talks HTTP
// to it.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	httpapi "focal/adapters/http"
	"focal/bootstrap"
)

// Fixed ids of the demo bundle (examples/demo-agent.yaml).
const (
	DemoTenant = "550e8400-e29b-41d4-a716-446655440000"
	DemoAgent  = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	// Secret signs test tokens.
	Secret = "component-test-secret-0123456789abcdef"
)

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// App is a running Focal instance.
type App struct {
	URL    string
	Config bootstrap.Config
	client *http.Client
	stop   func() error
}

// At is an App for a Focal already serving at url (a process a test
// started itself): Do works on it, Stop does not.
func At(url string) *App {
	return &App{URL: url, client: &http.Client{Timeout: 60 * time.Second}, stop: func() error { return nil }}
}

// Start boots Focal with the demo bundle, the memory store and the offline
// model, overridden by env (FOCAL_* names), plus extra fx options. It stops
// the app when the test ends.
func Start(t testing.TB, env map[string]string, extra ...fx.Option) *App {
	t.Helper()
	return start(t, env, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), extra...)
}

// StartObserved is Start that also records every log line, at every
// level, for tests about what the service logs.
func StartObserved(t testing.TB, env map[string]string, extra ...fx.Option) (*App, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return start(t, env, zap.New(core), extra...), logs
}

func start(t testing.TB, env map[string]string, log *zap.Logger, extra ...fx.Option) *App {
	t.Helper()
	base := map[string]string{
		"FOCAL_HTTP_ADDR":        "127.0.0.1:0",
		"FOCAL_JWT_SECRET":       Secret,
		"FOCAL_BOOTSTRAP_BUNDLE": filepath.Join(RepoRoot(), "examples", "demo-agent.yaml"),
		"FOCAL_LOG_LEVEL":        "warn",
		// Tests send bursts; those about rate limits set their own.
		"FOCAL_RATE_LIMIT_FREE": "1000000",
	}
	maps.Copy(base, env)
	cfg, err := bootstrap.LoadConfigEnv("", base)
	require.NoError(t, err)
	var srv *bootstrap.Server
	var handler http.Handler
	app := fx.New(bootstrap.Options(cfg, log, append(extra, fx.Populate(&srv, &handler))...))
	require.NoError(t, app.Err())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, app.Start(ctx))
	if engine, ok := handler.(*gin.Engine); ok {
		loadContract(t).checkRoutes(t, engine)
	}
	a := &App{URL: "http://" + srv.Addr(), Config: cfg, client: &http.Client{Timeout: 60 * time.Second}}
	a.stop = sync.OnceValue(func() error {
		// Connections the client dialed but never used would keep the
		// server's graceful shutdown waiting for their first request.
		a.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return app.Stop(ctx)
	})
	t.Cleanup(func() { _ = a.stop() })
	return a
}

// Stop shuts the app down now, the way SIGTERM does (a restart test starts
// another on the same store); the test's cleanup then has nothing to stop.
func (a *App) Stop(t testing.TB) {
	t.Helper()
	require.NoError(t, a.stop())
}

// Token signs a token for tenant with roles.
func Token(t testing.TB, tenant string, roles ...string) string {
	t.Helper()
	return TokenAt(t, time.Now(), tenant, roles...)
}

// TokenAt is Token issued at now: an app on a test Clock checks tokens
// against that clock, so its tests sign them on it.
func TokenAt(t testing.TB, now time.Time, tenant string, roles ...string) string {
	t.Helper()
	tok, err := httpapi.SignToken(Secret, httpapi.TokenRequest{TenantID: tenant, Subject: "test", Roles: roles, TTL: time.Hour}, now)
	require.NoError(t, err)
	return tok
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// Request describes one call.
type Request struct {
	Method string
	Path   string
	Token  string
	// Body is JSON-encoded unless it is []byte or string, sent as is.
	Body    any
	Headers map[string]string
}

// Do performs req, reads the whole response and validates it against the
// API document (openapi.go): a response the document does not describe
// fails the test.
func (a *App) Do(t testing.TB, req Request) *Response {
	t.Helper()
	return a.DoWatching(t, req, nil)
}

// DoWatching is Do that shows the body to watch after every read, as it
// arrives: a streaming test waits on what the client has seen (a ping, a
// token) instead of on the wall clock. watch may be nil.
func (a *App) DoWatching(t testing.TB, req Request, watch func(soFar []byte)) *Response {
	t.Helper()
	var sent []byte
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		sent = b
	case string:
		sent = []byte(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		sent = raw
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(sent)
	}
	hr, err := http.NewRequest(req.Method, a.URL+req.Path, body)
	require.NoError(t, err)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	res, err := a.client.Do(hr)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := readWatching(res.Body, watch)
	require.NoError(t, err)
	loadContract(t).checkResponse(t, a.URL, &exchange{method: req.Method, path: req.Path, reqHeader: hr.Header,
		reqBody: sent, status: res.StatusCode, header: res.Header, body: raw, counted: a.Config.Store.Kind == "memory"})
	return &Response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// Exchange is one HTTP exchange made by a test's own client: an SSE
// library reading a stream, or a request to a process the harness did not
// start.
type Exchange struct {
	Request     *http.Request
	RequestBody []byte // nil when there was none
	Response    *http.Response
	Body        []byte // what the client read of the response body
	// Partial: the client stopped reading before the end (it left a
	// stream); the events that arrived must still follow the grammar.
	Partial bool
}

// CheckExchange validates x against the API document, as Do does for its
// own requests: a response the document does not describe, or a request
// it calls invalid that the service accepted, fails the test.
func CheckExchange(t testing.TB, x Exchange) {
	t.Helper()
	u := x.Request.URL
	loadContract(t).checkResponse(t, u.Scheme+"://"+u.Host, &exchange{method: x.Request.Method, path: u.RequestURI(),
		reqHeader: x.Request.Header, reqBody: x.RequestBody, status: x.Response.StatusCode, header: x.Response.Header,
		body: x.Body, partial: x.Partial})
}

// Record makes res.Body keep a copy of every byte the client reads from
// it, for CheckExchange once the client is done reading.
func Record(res *http.Response) *bytes.Buffer {
	var seen bytes.Buffer
	res.Body = recordingBody{Reader: io.TeeReader(res.Body, &seen), Closer: res.Body}
	return &seen
}

type recordingBody struct {
	io.Reader
	io.Closer
}

// readWatching reads r to the end, calling watch (when not nil) with what
// has arrived after every read.
func readWatching(r io.Reader, watch func([]byte)) ([]byte, error) {
	if watch == nil {
		return io.ReadAll(r)
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			got = append(got, buf[:n]...)
			watch(got)
		}
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

// ChatBody is a chat request body with the demo agent's ids filled in.
func ChatBody(user, message string) map[string]any {
	return map[string]any{
		"agent_id":        DemoAgent,
		"channel":         "webchat",
		"user_channel_id": user,
		"message":         message,
	}
}
