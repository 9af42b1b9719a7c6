package httpapi

import (
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"focal/adapters/clock"
)

// wrap puts d's writer around the request's, which gives every write its
// own write deadline; the caller (requestEntry) calls d.writer.finish when
// the request's handlers return.
//
// Reads: the server's ReadTimeout runs from the first byte of a request,
// so a body trickled in is cut off at it, before or after authentication.
// Once the body is read (or when there is none) net/http lifts the
// deadline itself, as it starts reading the connection in the background
// to notice a client leaving: a deadline passing there would cancel a
// turn or a stream that is well within its own limits. (Lifting it here
// as well was a second timer update on every request;
// TestReadDeadlineIsLiftedOnceTheBodyIsRead holds net/http to it.)
//
// Writes: before each write the deadline is set WriteTimeout ahead. A
// response or stream event that the client does not take in that time
// fails, the request's context is cancelled, and a turn streaming to it
// ends as interrupted; a stream the client keeps reading lives on. A
// deadline is not set again for a write within a hundredth of the timeout
// of the one in effect being counted (deadlineSlack), which net/http sets
// itself when it has read the request: each write still has at least 99 %
// of the timeout, and most replies (a turn takes well under 300 ms of the
// default 30 s) are written without setting one, which was a timer update
// and a reading of the clock on every request.
//
// A stream that takes its connection over (takeOver) does the same on its
// own: it sets the write deadline before each write, and watches for the
// client leaving; the connection is closed here when the handler returns.
// start is a clock.Mono reading taken as the request begins.
func (d *requestDeadlines) wrap(c *gin.Context, cfg Config, start time.Duration) {
	d.writer = writeDeadlineWriter{ResponseWriter: c.Writer, conn: connDeadlinesOf(c.Writer), timeout: cfg.WriteTimeout,
		keepConn: cfg.SSEKeepConnection, countedAt: notCounted}
	if d.writer.conn != nil && serverSetWriteDeadline(c.Request, cfg.WriteTimeout) {
		d.writer.countedAt = start
	}
	c.Writer = &d.writer
}

// serverSetWriteDeadline reports whether net/http has set the write
// deadline of r's connection timeout after it read r, as it does for
// HTTP/1 when its server's WriteTimeout is timeout (NewServer's is):
// moments before requestEntry runs.
func serverSetWriteDeadline(r *http.Request, timeout time.Duration) bool {
	if r.ProtoMajor != 1 || timeout <= 0 {
		return false
	}
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	return srv != nil && srv.WriteTimeout == timeout
}

// deadlineSlack is the part of the write timeout by which a deadline may
// fall short of "the timeout after the write" rather than be set again:
// a hundredth.
const deadlineSlack = 100

// notCounted is writeDeadlineWriter.countedAt when the writer knows no
// deadline in effect.
const notCounted = time.Duration(math.MinInt64)

// requestDeadlines is what deadlines keeps for one request.
type requestDeadlines struct {
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

// writeDeadlineWriter sets the connection's write deadline before every
// write and flush.
type writeDeadlineWriter struct {
	gin.ResponseWriter
	conn    connDeadlines // nil: the writer sets no deadlines
	timeout time.Duration
	// countedAt, unless notCounted, says the write deadline in effect is
	// timeout after countedAt (a clock.Mono reading), or sooner by no more
	// than the moments from net/http setting it to requestEntry reading
	// the clock: it is not set again for a write within
	// timeout/deadlineSlack of countedAt.
	countedAt time.Duration
	// keepConn leaves streams on net/http (FOCAL_SSE_KEEP_CONNECTION).
	keepConn bool
	// stream is the connection once a stream has taken it over
	// (takeOver): the stream writes to it, it reports the stream's
	// status and size to the access log, and it is closed when the
	// request's handler returns. Writes through w then fail.
	stream *streamConn
}

func (w *writeDeadlineWriter) extend() { w.extendFrom(time.Now()) }

// extendFrom sets the write deadline the timeout after now, a reading of
// the clock just taken, unless the one in effect was counted from less
// than timeout/deadlineSlack before now.
func (w *writeDeadlineWriter) extendFrom(now time.Time) {
	if w.conn == nil {
		return
	}
	at := clock.MonoOf(now)
	if w.countedAt != notCounted && at-w.countedAt < w.timeout/deadlineSlack {
		return
	}
	_ = w.conn.SetWriteDeadline(now.Add(w.timeout))
	w.countedAt = at
}

func (w *writeDeadlineWriter) Write(b []byte) (int, error) { return w.writeAt(b, time.Now()) }

// writeAt is Write with the deadline counted from now, a reading of the
// clock just taken.
func (w *writeDeadlineWriter) writeAt(b []byte, now time.Time) (int, error) {
	if w.stream != nil {
		return 0, http.ErrHijacked
	}
	w.extendFrom(now)
	return w.ResponseWriter.Write(b)
}

// writeAt writes b to w, whose write deadline, when w is the request's own
// writer, is counted from now, a reading of the clock just taken; any other
// writer (an idempotent run's capture) writes as it does.
func writeAt(w gin.ResponseWriter, b []byte, now time.Time) (int, error) {
	if d, ok := w.(*writeDeadlineWriter); ok {
		return d.writeAt(b, now)
	}
	return w.Write(b)
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
