package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/adapters/observe"
	"focal/application"
)

// chatPathRoutes is POST /v1/chat's HTTP path with the turn left out: the
// route's middleware, the body decoded into the use case's command and a
// reply written, as ChatRoutes does around the use case.
type chatPathRoutes struct {
	limits *RateLimits
	res    *application.ChatResult
}

func (h chatPathRoutes) Register(_ *gin.RouterGroup, v1 *gin.RouterGroup) {
	idem := &keyed{}
	v1.POST("/chat", requireJSON, h.limits.inflightTurns, func(c *gin.Context) {
		idem.serve(c, func(c *gin.Context) handled {
			req, ok := decodeChat(c)
			if !ok {
				return handled{}
			}
			_ = req.command(c)
			writeChatResult(c, h.res)
			return handled{turnID: h.res.TurnID}
		})
	})
}

// chatPathRouter is the production router serving chatPathRoutes, with
// middleware added after the router's own, its settings, and a token it
// accepts.
func chatPathRouter(b *testing.B, middleware ...gin.HandlerFunc) (Config, http.Handler, string) {
	gin.SetMode(gin.ReleaseMode)
	const secret = "bench-secret-bench-secret-bench-secret"
	auth, err := NewAuthenticator(AuthConfig{Secret: secret, Leeway: 5 * time.Second}, clock.System{})
	if err != nil {
		b.Fatal(err)
	}
	limits := NewRateLimits(RateLimitConfig{Free: 1e9, Pro: 1e9, Enterprise: 1e9, Window: time.Minute, MaxOpenStreams: 1, MaxInflightTurns: 128},
		memory.NewRateLimiter(clock.System{}), clock.System{})
	res := &application.ChatResult{Response: "Our stores are open Monday to Saturday from 9am to 8pm, and Sunday from 10am to 6pm.",
		SessionID: "01a2148a-44a6-7119-bae0-b6d470ce28c6", TurnID: "01a2148a-44a6-7137-8d4c-39340af859e2",
		MatchedRules: []string{"store_hours"}, ToolsCalled: []string{}}
	cfg := Config{MaxBodyBytes: 1 << 20, MaxHeaderBytes: 1 << 16, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	h := NewRouter(cfg, zap.NewNop(), auth, limits, []Routes{chatPathRoutes{limits: limits, res: res}}, middleware...)
	token, err := SignToken(secret, TokenRequest{TenantID: "550e8400-e29b-41d4-a716-446655440000", Tier: TierEnterprise, TTL: time.Hour}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return cfg, h, token
}

// BenchmarkChatPathOverHTTP is POST /v1/chat's HTTP path, the turn left
// out, served by the production router and server settings to one client
// on a kept-alive loopback connection, as the load bench's clients send
// it: net/http's reading and writing, the middleware, the body's decoding
// and the reply's encoding.
func BenchmarkChatPathOverHTTP(b *testing.B) {
	cfg, h, token := chatPathRouter(b)
	srv := httptest.NewUnstartedServer(h)
	srv.Config = NewServer(cfg, h, zap.NewNop())
	srv.Start()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	body := `{"agent_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","channel":"bench","user_channel_id":"ret-7","message":"where is your nearest store?"}`
	request := []byte(fmt.Sprintf("POST /v1/chat HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
		host, token, len(body), body))
	conn, err := net.Dial("tcp", host)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(request); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("POST /v1/chat: %s", resp.Status)
		}
	}
}

// reusedBody is a request body read afresh by every request of a
// benchmark, which allocates nothing.
type reusedBody struct{ strings.Reader }

func (*reusedBody) Close() error { return nil }

// discardWriter is a response writer that keeps the headers (cleared for
// each request) and the status, and drops the body. It takes connection
// deadlines, as net/http's writer does, so that the deadlines' work on
// each request is counted too.
type discardWriter struct {
	header http.Header
	status int
}

func (*discardWriter) SetReadDeadline(time.Time) error  { return nil }
func (*discardWriter) SetWriteDeadline(time.Time) error { return nil }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkChatPathInProcess is BenchmarkChatPathOverHTTP without net/http:
// the production router, with the HTTP metrics middleware as bootstrap
// adds it, serving POST /v1/chat (the turn left out) to a writer that
// drops the reply. What it counts is Focal's and gin's own work on every
// request; measuredChatPath is callgrind's --toggle-collect target.
func BenchmarkChatPathInProcess(b *testing.B) {
	_, h, token := chatPathRouter(b, observe.NewMetrics(nil).GinMiddlewareFrom(RequestStart))
	const body = `{"agent_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","channel":"bench","user_channel_id":"ret-7","message":"where is your nearest store?"}`
	reused := &reusedBody{}
	req := httptest.NewRequest(http.MethodPost, "/v1/chat", reused)
	req.Header = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}}
	req.ContentLength = int64(len(body))
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		reused.Reset(body)
		clear(w.header)
		measuredChatPath(h, w, req)
		if w.status != http.StatusOK {
			b.Fatalf("POST /v1/chat: %d", w.status)
		}
	}
}

// measuredChatPath serves one request, for callgrind's --toggle-collect.
//
//go:noinline
func measuredChatPath(h http.Handler, w http.ResponseWriter, req *http.Request) { h.ServeHTTP(w, req) }

// BenchmarkChatPathInProcessParallel is BenchmarkChatPathInProcess from
// every core at once, one tenant's requests all: with -cpu 2 it counts
// what the locks and counters the requests share cost when both cores
// write them, as under load.
func BenchmarkChatPathInProcessParallel(b *testing.B) {
	_, h, token := chatPathRouter(b, observe.NewMetrics(nil).GinMiddlewareFrom(RequestStart))
	const body = `{"agent_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","channel":"bench","user_channel_id":"ret-7","message":"where is your nearest store?"}`
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		reused := &reusedBody{}
		req := httptest.NewRequest(http.MethodPost, "/v1/chat", reused)
		req.Header = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}}
		req.ContentLength = int64(len(body))
		w := &discardWriter{header: http.Header{}}
		for pb.Next() {
			reused.Reset(body)
			clear(w.header)
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Errorf("POST /v1/chat: %d", w.status)
				return
			}
		}
	})
}
