package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/application"
)

// deadlineRecorder is a response writer whose connection deadlines are
// recorded, as net/http's response writer sets them on its connection.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	events []string
	write  time.Time
}

func (r *deadlineRecorder) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		r.events = append(r.events, "read deadline lifted")
	} else {
		r.events = append(r.events, "read deadline set")
	}
	return nil
}

func (r *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	r.events = append(r.events, "write deadline set")
	r.write = t
	return nil
}

func (r *deadlineRecorder) Write(b []byte) (int, error) {
	r.events = append(r.events, "write")
	return r.ResponseRecorder.Write(b)
}

func (r *deadlineRecorder) WriteString(s string) (int, error) {
	r.events = append(r.events, "write")
	return r.ResponseRecorder.WriteString(s)
}

// deadlineMiddlewares are deadlines alone and requestEntry, which the
// router runs first and which sets the deadlines as deadlines does.
func deadlineMiddlewares(cfg Config) map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{"deadlines": deadlines(cfg), "requestEntry": requestEntry(cfg, zap.NewNop())}
}

// The deadlines middleware finds the connection's deadlines under gin's
// writer: every write has the write timeout ahead of it when it goes out
// (set before the first, and kept for those within a hundredth of the
// timeout of it), and the read deadline is left to net/http.
func TestDeadlinesExtendEveryWrite(t *testing.T) {
	const timeout = time.Hour
	for name, mw := range deadlineMiddlewares(Config{WriteTimeout: timeout}) {
		t.Run(name, func(t *testing.T) { testDeadlinesExtend(t, mw, timeout) })
	}
}

func testDeadlinesExtend(t *testing.T, mw gin.HandlerFunc, timeout time.Duration) {
	r := gin.New()
	r.Use(mw)
	r.POST("/s", func(c *gin.Context) {
		_, err := io.ReadAll(c.Request.Body)
		require.NoError(t, err)
		_, _ = c.Writer.WriteString("one")
		c.Writer.Flush()
		_, _ = c.Writer.Write([]byte("two"))
	})
	w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	before := time.Now()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/s", strings.NewReader("body")))

	assert.Equal(t, []string{"write deadline set", "write", "write"}, w.events)
	assert.False(t, w.write.Before(before.Add(timeout)), "a write's deadline is the write timeout from when it is made")
	assert.Equal(t, "onetwo", w.Body.String())
}

// A chat reply, whose Date and write deadline are counted from one
// reading of the clock, has its deadline set before its one write, the
// write timeout from when it is written, under the request's own writer
// and under a writer wrapping it (an idempotent run's capture).
func TestChatReplyExtendsItsWriteDeadline(t *testing.T) {
	const timeout = time.Hour
	res := &application.ChatResult{Response: "hi", SessionID: "s1", TurnID: "t1"}
	for name, wrap := range map[string]bool{"own writer": false, "wrapped": true} {
		t.Run(name, func(t *testing.T) {
			r := gin.New()
			r.Use(requestEntry(Config{WriteTimeout: timeout}, zap.NewNop()))
			r.GET("/chat", func(c *gin.Context) {
				if wrap {
					c.Writer = &captureWriter{ResponseWriter: c.Writer}
				}
				writeChatResult(c, res)
			})
			w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
			before := time.Now()
			r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/chat", nil))
			assert.Equal(t, []string{"write deadline set", "write"}, w.events)
			assert.False(t, w.write.Before(before.Add(timeout)), "the deadline is the write timeout from the write")
			assert.False(t, w.write.After(time.Now().Add(timeout)))
			requireHTTPDate(t, w.Header().Values("Date"))
		})
	}
}

// Once a request's body has been read, or at once when it has none, its
// read deadline no longer runs: net/http lifts it when it starts reading
// the connection in the background, and requestEntry counts on that. A
// deadline passing during that read would end the request's context, so
// a turn outlasting the read timeout would be cancelled.
func TestReadDeadlineIsLiftedOnceTheBodyIsRead(t *testing.T) {
	const readTimeout = 100 * time.Millisecond
	r := gin.New()
	r.Use(requestEntry(Config{WriteTimeout: time.Minute}, zap.NewNop()))
	turn := func(c *gin.Context) {
		_, err := io.ReadAll(c.Request.Body)
		require.NoError(t, err)
		select {
		case <-c.Request.Context().Done():
			c.String(http.StatusGatewayTimeout, "cancelled: %v", context.Cause(c.Request.Context()))
		case <-time.After(5 * readTimeout):
			c.String(http.StatusOK, "outlasted the read timeout")
		}
	}
	r.POST("/turn", turn)
	r.GET("/turn", turn)
	srv := httptest.NewUnstartedServer(r)
	srv.Config.ReadTimeout, srv.Config.ReadHeaderTimeout = readTimeout, readTimeout
	srv.Start()
	defer srv.Close()
	for name, send := range map[string]func() (*http.Response, error){
		"with a body": func() (*http.Response, error) {
			return srv.Client().Post(srv.URL+"/turn", "text/plain", strings.NewReader("body"))
		},
		"without a body": func() (*http.Response, error) { return srv.Client().Get(srv.URL + "/turn") },
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := send()
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		})
	}
}

// deadlines is requestEntry's deadlines alone, for tests of them apart
// from the request's state.
func deadlines(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		// One allocation for both wrappers.
		d := &requestDeadlines{}
		d.wrap(c, cfg, clock.Mono())
		defer d.writer.finish()
		c.Next()
	}
}

// A reply written moments after net/http has read its request keeps the
// write deadline net/http set then (its server's WriteTimeout is the
// router's): it is that timeout from a moment ago, within a hundredth of
// it. Under another server's timeout, or none, the deadline is set before
// the write, as always.
func TestReplyKeepsTheDeadlineNetHTTPSetWhenTheRequestWasRead(t *testing.T) {
	const timeout = time.Hour
	for name, tc := range map[string]struct {
		server *http.Server
		events []string
	}{
		"the router's timeout": {&http.Server{WriteTimeout: timeout}, []string{"write"}},
		"another timeout":      {&http.Server{WriteTimeout: time.Minute}, []string{"write deadline set", "write"}},
		"no timeout":           {&http.Server{}, []string{"write deadline set", "write"}},
		"no server":            {nil, []string{"write deadline set", "write"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := gin.New()
			r.Use(requestEntry(Config{WriteTimeout: timeout}, zap.NewNop()))
			r.GET("/chat", func(c *gin.Context) {
				writeChatResult(c, &application.ChatResult{Response: "hi", SessionID: "s1", TurnID: "t1"})
			})
			req := httptest.NewRequest(http.MethodGet, "/chat", nil)
			if tc.server != nil {
				req = req.WithContext(context.WithValue(req.Context(), http.ServerContextKey, tc.server))
			}
			w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
			r.ServeHTTP(w, req)
			assert.Equal(t, tc.events, w.events)
		})
	}
}

// Once the deadline in effect was counted from more than a hundredth of
// the timeout ago, a write sets it afresh, and the writes within a
// hundredth of that do not.
func TestWritesSetTheDeadlineOncePastTheSlack(t *testing.T) {
	const timeout = time.Hour
	rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	c, _ := gin.CreateTestContext(rec)
	w := writeDeadlineWriter{ResponseWriter: c.Writer, conn: rec, timeout: timeout,
		countedAt: clock.Mono() - timeout/deadlineSlack - time.Second}
	before := time.Now()
	_, _ = w.Write([]byte("one"))
	_, _ = w.WriteString("two")
	w.Flush()
	assert.Equal(t, []string{"write deadline set", "write", "write"}, rec.events)
	assert.False(t, rec.write.Before(before.Add(timeout)), "the deadline is the write timeout from the write")
}
