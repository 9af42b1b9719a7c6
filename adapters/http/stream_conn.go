package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// streamConn is an HTTP/1.1 connection a stream has taken over from
// net/http (see takeOver). The stream writes each frame to it as one chunk
// of a chunked body, with the write deadline set before each write; a
// goroutine blocked in a 1-byte read notices the client leaving. The
// deadlines middleware ends the body and closes the connection when the
// request's handler returns (finish).
type streamConn struct {
	conn    net.Conn
	timeout time.Duration
	// cancel cancels the stream's context: the client left or a write
	// failed, as net/http cancels a request's context.
	cancel context.CancelFunc
	// size is the body bytes written, what the access log counts.
	size int
	// err is the first write error; every later write fails with it.
	err  error
	hdr  [20]byte
	bufs [3][]byte
}

var crlf = []byte("\r\n")

// takeOver hijacks the request's connection for a stream whose status and
// headers are set, writes them with Connection: close and a chunked body,
// and returns the connection and the context the stream runs under. It
// returns nil, and the request's context, where the connection cannot be
// taken: HTTP/2, HTTP/1.0, a writer that is not net/http's (tests'
// recorders), a router without the deadlines middleware, or with
// FOCAL_SSE_KEEP_CONNECTION set.
//
// Why: net/http keeps a 4 KiB read buffer, a 4 KiB write buffer and a
// 2 KiB chunking buffer for a connection as long as its handler runs;
// a stream waits for the model for most of its life, writing a few
// frames. Taking the connection releases them (make bench, idle streams).
func takeOver(c *gin.Context) (*streamConn, context.Context) {
	ctx := c.Request.Context()
	dw, hijackable := deadlineWriterOf(c.Writer)
	if dw == nil || dw.keepConn || !hijackable || c.Request.ProtoMajor != 1 || c.Request.ProtoMinor < 1 {
		return nil, ctx
	}
	conn, rw, err := http.NewResponseController(dw.ResponseWriter).Hijack()
	if err != nil {
		return nil, ctx
	}
	releaseBuffers(rw)
	ctx, cancel := context.WithCancel(ctx)
	s := &streamConn{conn: conn, timeout: dw.timeout, cancel: cancel}
	dw.stream = s
	go watchClient(conn, cancel)
	h := c.Writer.Header()
	h["Connection"] = connectionClose
	h["Date"] = dateNow()
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&head)
	head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	s.send(head.Bytes())
	return s, ctx
}

// deadlineWriterOf finds the deadlines middleware's writer among w's
// wrappers, and whether the innermost writer can hand its connection over.
func deadlineWriterOf(w http.ResponseWriter) (dw *writeDeadlineWriter, hijackable bool) {
	for {
		if d, ok := w.(*writeDeadlineWriter); ok {
			dw = d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	_, hijackable = w.(http.Hijacker)
	return dw, hijackable
}

// releaseBuffers lets the connection's read and write buffers go: net/http
// keeps pointers to these two bufio values until the handler returns, and
// will not use them after the hijack (http.Hijacker). Bytes the client
// sent past the request (a pipelined request) are dropped: the response
// says Connection: close, so the client sends that request again.
func releaseBuffers(rw *bufio.ReadWriter) {
	*rw.Reader = *bufio.NewReaderSize(eofReader{}, 16)
	*rw.Writer = *bufio.NewWriterSize(io.Discard, 16)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// watchClient cancels the stream when the client closes the connection (or
// it fails); what the client sends after its request is ignored. It ends
// when finish closes the connection.
func watchClient(conn net.Conn, cancel context.CancelFunc) {
	var b [1]byte
	for {
		if _, err := conn.Read(b[:]); err != nil {
			cancel()
			return
		}
	}
}

// write sends p as one chunk.
func (s *streamConn) write(p []byte) error {
	hdr := strconv.AppendInt(s.hdr[:0], int64(len(p)), 16)
	hdr = append(hdr, crlf...)
	s.bufs = [3][]byte{hdr, p, crlf}
	s.send(s.bufs[:]...)
	s.bufs = [3][]byte{}
	if s.err != nil {
		return s.err
	}
	s.size += len(p)
	return nil
}

// send writes the pieces in one call within the write deadline; a failure
// cancels the stream.
func (s *streamConn) send(pieces ...[]byte) {
	if s.err != nil {
		return
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	b := net.Buffers(pieces)
	if _, err := b.WriteTo(s.conn); err != nil {
		s.err = err
		s.cancel()
	}
}

// finish ends the chunked body, unless a write failed, and closes the
// connection.
func (s *streamConn) finish() {
	s.send([]byte("0\r\n\r\n"))
	if tc, ok := s.conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = s.conn.Close()
	s.cancel()
}
