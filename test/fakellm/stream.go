package fakellm

import (
	"context"
	"net/http"
)

// sseWriter writes Server-Sent Events and flushes after each one, so clients
// really receive deltas one at a time.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func newSSE(w http.ResponseWriter, requestIDHeader, requestID string) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set(requestIDHeader, requestID)
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w)}
	sw.flush()
	return sw
}

// event writes one event; name "" omits the event line (OpenAI style).
// data must be a single line, which json.Marshal output always is.
func (sw *sseWriter) event(name string, data []byte) {
	if sw.err != nil {
		return
	}
	buf := make([]byte, 0, len(name)+len(data)+16)
	if name != "" {
		buf = append(buf, "event: "...)
		buf = append(buf, name...)
		buf = append(buf, '\n')
	}
	buf = append(buf, "data: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	if _, sw.err = sw.w.Write(buf); sw.err == nil {
		sw.flush()
	}
}

func (sw *sseWriter) flush() {
	if err := sw.rc.Flush(); err != nil && err != http.ErrNotSupported {
		sw.err = err
	}
}

// streamFormat renders one provider's stream; the driver decides timing and
// faults.
type streamFormat interface {
	// start writes everything that precedes the first content delta.
	start(sw *sseWriter)
	delta(sw *sseWriter, text string)
	// malformed writes a data line whose JSON is cut short.
	malformed(sw *sseWriter)
	// fail writes the provider's mid-stream error event.
	fail(sw *sseWriter, reply Reply)
	// finish writes the finish reason, usage and terminator.
	finish(sw *sseWriter)
}

// runStream drives a streamed reply through f, injecting the reply's faults
// at their delta positions.
func (s *Server) runStream(ctx context.Context, w http.ResponseWriter, rec *record, reply Reply, sw *sseWriter, f streamFormat) {
	f.start(sw)
	deltas := reply.deltas()
	n := len(deltas)
	for sent := 0; ; sent++ {
		if sw.err != nil || ctx.Err() != nil {
			return
		}
		if firesAt(reply.StallAfter, sent, n) && !s.stall(ctx, rec, reply) {
			return
		}
		if firesAt(reply.MalformedAfter, sent, n) {
			f.malformed(sw)
		}
		if firesAt(reply.ErrorAfter, sent, n) {
			f.fail(sw, reply)
			return
		}
		if firesAt(reply.DisconnectAfter, sent, n) {
			s.disconnect(w, rec)
			return
		}
		if sent == n {
			break
		}
		wait := reply.TokenInterval
		if sent == 0 {
			wait = reply.FirstTokenDelay
		}
		if !s.sleep(ctx, wait) {
			return
		}
		f.delta(sw, deltas[sent])
	}
	f.finish(sw)
}
