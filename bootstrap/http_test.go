package bootstrap

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"

	httpapi "focal/adapters/http"
)

// hijackingServer serves one handler that takes its connection over (as a
// stream does) and holds it until its request's context ends or release
// is closed; ended gets why it ended.
func hijackingServer(t *testing.T, release <-chan struct{}, ended chan<- error) *Server {
	t.Helper()
	base, stop := context.WithCancelCause(context.Background())
	s := &Server{stopRequests: stop}
	s.srv = &http.Server{Handler: s.running.track(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			ended <- err
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n")
		select {
		case <-r.Context().Done():
			ended <- context.Cause(r.Context())
		case <-release:
			ended <- nil
		}
	}))}
	s.srv.BaseContext = func(net.Listener) context.Context { return base }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.ln = ln
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// openHijacked starts a request and waits for its response head: the
// handler then owns the connection.
func openHijacked(t *testing.T, s *Server) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr() + "/")
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// http.Server.Shutdown does not wait for hijacked connections; the drain
// does: a stream that owns its connection runs until the drain deadline,
// is then ended as shutting down, and the drain returns only after it.
func TestDrainWaitsForAHijackedStreamUntilTheDeadline(t *testing.T) {
	ended := make(chan error, 1)
	s := hijackingServer(t, make(chan struct{}), ended)
	openHijacked(t, s)
	start := time.Now()
	err := s.shutdown(context.Background(), 300*time.Millisecond, zap.NewNop())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "waited until the drain deadline")
	select {
	case cause := <-ended:
		assert.True(t, errors.Is(cause, httpapi.ErrShuttingDown), "ended as shutting down: %v", cause)
	default:
		t.Fatal("the drain returned while the hijacked stream still ran")
	}
}

// A hijacked stream that ends within the drain ends on its own and the
// drain returns once it has.
func TestDrainReturnsWhenAHijackedStreamEnds(t *testing.T) {
	ended := make(chan error, 1)
	release := make(chan struct{})
	s := hijackingServer(t, release, ended)
	openHijacked(t, s)
	done := make(chan error, 1)
	go func() { done <- s.shutdown(context.Background(), time.Minute, zap.NewNop()) }()
	select {
	case err := <-done:
		t.Fatalf("the drain returned (%v) while the hijacked stream still ran", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-done)
	assert.NoError(t, <-ended, "the stream ended on its own, not cut")
}

// wait returns once every request tracked has returned, and not before,
// however the requests' ends and the drain's wait interleave; with no
// request running it returns at once.
func TestRunningRequestsWaitForTheLast(t *testing.T) {
	var r runningRequests
	require.NoError(t, r.wait(context.Background()))
	for round := range 200 {
		release := make(chan struct{})
		started := make(chan struct{}, 8)
		h := r.track(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			started <- struct{}{}
			<-release
		}))
		n := 1 + round%8
		for range n {
			go h.ServeHTTP(nil, nil)
		}
		for range n {
			<-started
		}
		assert.Equal(t, n, r.count())
		if round%3 == 0 {
			short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			require.ErrorIs(t, r.wait(short), context.DeadlineExceeded, "round %d: requests still run", round)
			cancel()
		}
		waited := make(chan error, 1)
		go func() { waited <- r.wait(context.Background()) }()
		if round%2 == 0 {
			select {
			case err := <-waited:
				t.Fatalf("round %d: wait returned (%v) with %d requests running", round, err, r.count())
			default:
			}
		}
		close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		select {
		case err := <-waited:
			require.NoError(t, err)
		case <-ctx.Done():
			t.Fatalf("round %d: wait did not return after every request ended", round)
		}
		cancel()
		assert.Zero(t, r.count())
	}
}

// BenchmarkRunningRequestsParallel is every core's requests counting
// themselves in and out, as every request does: with -cpu 2 a single
// count's line bounces between the cores.
func BenchmarkRunningRequestsParallel(b *testing.B) {
	var r runningRequests
	h := r.track(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.ServeHTTP(nil, nil)
		}
	})
}

// A server whose listener fails under it (an accept error net/http does
// not retry; here the listener closed by someone else) stops the process
// with exit code 1, rather than leave it running with nothing listening.
func TestAServerWhoseListenerFailsStopsTheProcess(t *testing.T) {
	cfg, err := LoadConfigEnv("", map[string]string{"FOCAL_HTTP_ADDR": "127.0.0.1:0", "FOCAL_STORE": "memory",
		"FOCAL_JWT_SECRET": "listener-test-secret-listener-test-secret"})
	require.NoError(t, err)
	var srv *Server
	app := fx.New(Options(cfg, zap.NewNop(), fx.Populate(&srv)), fx.NopLogger)
	require.NoError(t, app.Err())
	stopped := app.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, app.Start(ctx))
	t.Cleanup(func() { _ = app.Stop(context.Background()) })

	require.NoError(t, srv.ln.Close())
	select {
	case sig := <-stopped:
		assert.Equal(t, 1, sig.ExitCode)
	case <-ctx.Done():
		t.Fatal("the process runs on with no listener")
	}
}
