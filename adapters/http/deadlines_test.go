package httpapi

import (
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
// writer: the read deadline is lifted once the body has been read, and
// every write gets the write timeout afresh before it goes out.
func TestDeadlinesLiftTheReadDeadlineAndExtendEveryWrite(t *testing.T) {
	const timeout = time.Hour
	for name, mw := range deadlineMiddlewares(Config{WriteTimeout: timeout}) {
		t.Run(name, func(t *testing.T) { testDeadlinesLiftAndExtend(t, mw, timeout) })
	}
}

func testDeadlinesLiftAndExtend(t *testing.T, mw gin.HandlerFunc, timeout time.Duration) {
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

	assert.Equal(t, []string{"read deadline lifted",
		"write deadline set", "write", "write deadline set", "write deadline set", "write"}, w.events)
	assert.False(t, w.write.Before(before.Add(timeout)), "a write's deadline is the write timeout from when it is made")
	assert.Equal(t, "onetwo", w.Body.String())
}

// A request without a body has its read deadline lifted at once.
func TestDeadlinesLiftTheReadDeadlineOfABodilessRequest(t *testing.T) {
	for name, mw := range deadlineMiddlewares(Config{WriteTimeout: time.Hour}) {
		t.Run(name, func(t *testing.T) {
			r := gin.New()
			r.Use(mw)
			r.GET("/s", func(c *gin.Context) { c.Status(http.StatusNoContent) })
			w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
			r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/s", nil))
			assert.Equal(t, []string{"read deadline lifted"}, w.events)
		})
	}
}

// deadlines is requestEntry's deadlines alone, for tests of them apart
// from the request's state.
func deadlines(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		// One allocation for both wrappers.
		d := &requestDeadlines{}
		d.wrap(c, cfg)
		defer d.writer.finish()
		c.Next()
	}
}
