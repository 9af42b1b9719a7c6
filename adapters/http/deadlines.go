package httpapi

import (
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// deadlines gives every request the server's read deadline until its body
// has been read, and every write its own write deadline.
//
// Reads: the server's ReadTimeout runs from the first byte of a request,
// so a body trickled in is cut off at it, before or after authentication.
// Once the body is read (or when there is none) the deadline is lifted:
// the server keeps reading the connection in the background to notice a
// client leaving, and a deadline passing there would cancel a turn or a
// stream that is well within its own limits.
//
// Writes: before each write the deadline is set WriteTimeout ahead. A
// response or stream event that the client does not take in that time
// fails, the request's context is cancelled, and a turn streaming to it
// ends as interrupted; a stream the client keeps reading lives on.
func deadlines(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		// One allocation for the controller and both wrappers.
		d := &requestDeadlines{rc: *http.NewResponseController(c.Writer)}
		if c.Request.Body == nil || c.Request.Body == http.NoBody {
			_ = d.rc.SetReadDeadline(time.Time{})
		} else {
			d.body = readDeadlineBody{ReadCloser: c.Request.Body, rc: &d.rc}
			c.Request.Body = &d.body
		}
		d.writer = writeDeadlineWriter{ResponseWriter: c.Writer, rc: &d.rc, timeout: cfg.WriteTimeout}
		c.Writer = &d.writer
		c.Next()
	}
}

// requestDeadlines is what deadlines keeps for one request.
type requestDeadlines struct {
	rc     http.ResponseController
	body   readDeadlineBody
	writer writeDeadlineWriter
}

// readDeadlineBody lifts the read deadline when the body has been read.
type readDeadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *readDeadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// writeDeadlineWriter sets the connection's write deadline before every
// write and flush.
type writeDeadlineWriter struct {
	gin.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *writeDeadlineWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

func (w *writeDeadlineWriter) Write(b []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(b)
}

func (w *writeDeadlineWriter) WriteString(s string) (int, error) {
	w.extend()
	return w.ResponseWriter.WriteString(s)
}

func (w *writeDeadlineWriter) WriteHeaderNow() {
	w.extend()
	w.ResponseWriter.WriteHeaderNow()
}

func (w *writeDeadlineWriter) Flush() {
	w.extend()
	w.ResponseWriter.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writeDeadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
