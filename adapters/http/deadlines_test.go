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

// The deadlines middleware finds the connection's deadlines under gin's
// writer: the read deadline is lifted once the body has been read, and
// every write gets the write timeout afresh before it goes out.
func TestDeadlinesLiftTheReadDeadlineAndExtendEveryWrite(t *testing.T) {
	const timeout = time.Hour
	r := gin.New()
	r.Use(deadlines(Config{WriteTimeout: timeout}))
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
	r := gin.New()
	r.Use(deadlines(Config{WriteTimeout: time.Hour}))
	r.GET("/s", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/s", nil))
	assert.Equal(t, []string{"read deadline lifted"}, w.events)
}
