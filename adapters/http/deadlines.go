package httpapi

import (
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// wrap puts d's wrappers around the request's body and writer, which give
// the request the server's read deadline until its body has been read,
// and every write its own write deadline; the caller (requestEntry) calls
// d.writer.finish when the request's handlers return.
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
//
// A stream that takes its connection over (takeOver) does the same on its
// own: it sets the write deadline before each write, and watches for the
// client leaving; the connection is closed here when the handler returns.
func (d *requestDeadlines) wrap(c *gin.Context, cfg Config) {
	conn := connDeadlinesOf(c.Writer)
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		liftReadDeadline(conn)
	} else {
		d.body = readDeadlineBody{ReadCloser: c.Request.Body, conn: conn}
		c.Request.Body = &d.body
	}
	d.writer = writeDeadlineWriter{ResponseWriter: c.Writer, conn: conn, timeout: cfg.WriteTimeout, keepConn: cfg.SSEKeepConnection}
	c.Writer = &d.writer
}

// requestDeadlines is what deadlines keeps for one request.
type requestDeadlines struct {
	body   readDeadlineBody
	writer writeDeadlineWriter
}

// connDeadlines sets the deadlines of a request's connection: net/http's
// response writer does.
type connDeadlines interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// connDeadlinesOf finds what sets the connection's deadlines among w's
// wrappers, as http.ResponseController does on each of its calls, once
// per request: nil when there is none (tests' recorders), where a
// controller's calls would fail, and their errors be ignored, on every
// write.
func connDeadlinesOf(w http.ResponseWriter) connDeadlines {
	for {
		if d, ok := w.(connDeadlines); ok {
			return d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// liftReadDeadline lets the server read the connection without a deadline.
func liftReadDeadline(conn connDeadlines) {
	if conn != nil {
		_ = conn.SetReadDeadline(time.Time{})
	}
}

// readDeadlineBody lifts the read deadline when the body has been read.
type readDeadlineBody struct {
	io.ReadCloser
	conn connDeadlines
	done bool
}

func (b *readDeadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		liftReadDeadline(b.conn)
	}
	return n, err
}

// writeDeadlineWriter sets the connection's write deadline before every
// write and flush.
type writeDeadlineWriter struct {
	gin.ResponseWriter
	conn    connDeadlines // nil: the writer sets no deadlines
	timeout time.Duration
	// keepConn leaves streams on net/http (FOCAL_SSE_KEEP_CONNECTION).
	keepConn bool
	// stream is the connection once a stream has taken it over
	// (takeOver): the stream writes to it, it reports the stream's
	// status and size to the access log, and it is closed when the
	// request's handler returns. Writes through w then fail.
	stream *streamConn
}

func (w *writeDeadlineWriter) extend() {
	if w.conn != nil {
		_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *writeDeadlineWriter) Write(b []byte) (int, error) {
	if w.stream != nil {
		return 0, http.ErrHijacked
	}
	w.extend()
	return w.ResponseWriter.Write(b)
}

func (w *writeDeadlineWriter) WriteString(s string) (int, error) {
	if w.stream != nil {
		return 0, http.ErrHijacked
	}
	w.extend()
	return w.ResponseWriter.WriteString(s)
}

func (w *writeDeadlineWriter) WriteHeaderNow() {
	if w.stream == nil {
		w.extend()
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *writeDeadlineWriter) Flush() {
	if w.stream == nil {
		w.extend()
		w.ResponseWriter.Flush()
	}
}

// Size counts a stream's body bytes once it owns the connection.
func (w *writeDeadlineWriter) Size() int {
	if w.stream != nil {
		return w.stream.size
	}
	return w.ResponseWriter.Size()
}

// finish closes a connection a stream took over.
func (w *writeDeadlineWriter) finish() {
	if w.stream != nil {
		w.stream.finish()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writeDeadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
