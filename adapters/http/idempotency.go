package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"focal/application"
	"focal/domain"
	"focal/ports"
)

// keyed maps the Idempotency-Key header onto the idempotency use case: it
// reads the key and fingerprints the request, lets the use case decide,
// and writes what it answered.
type keyed struct {
	uc *application.Idempotency
	// replay answers with a turn an earlier run committed, in the route's
	// own shape; nil means Focal's (replayTurn).
	replay func(*gin.Context, *application.ChatResult)
}

// storedStreamFormat names, in a stored record's headers, the event format
// of a stream answer that is not Focal's own, so a replay speaks it.
const storedStreamFormat = "X-Focal-Stream-Format"

// handled is what a chat handler answered, beside what it wrote: the turn
// its reply names, and for a stream the done event a retry replays.
type handled struct {
	turnID  string
	unknown bool // the turn's commit was neither confirmed nor refuted
	done    *doneEvent
	// completion is a finished OpenAI completion stream, replayed as one.
	completion *storedCompletion
}

// serve runs handler under the request's Idempotency-Key, if it has one.
func (k *keyed) serve(c *gin.Context, handler func(*gin.Context) handled) {
	key := headerValue(c.Request.Header, headerIdempotencyKey)
	if key == "" {
		handler(c)
		return
	}
	if !validIdempotencyKey(key) {
		writeError(c, domain.InvalidFields(domain.FieldError{Field: "Idempotency-Key", Message: "must be 1..255 printable ASCII characters"}))
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		writeError(c, bodyReadError(err))
		return
	}
	closeReadBody(c.Request)
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	req := application.KeyedRequest{TenantID: principal(c).TenantID, Key: key, Fingerprint: fingerprint(c.Request, body)}
	answer, err := k.uc.Do(c.Request.Context(), req, func(ctx context.Context) application.Reply {
		return runCaptured(c, ctx, handler)
	})
	switch {
	case err != nil:
		writeError(c, err)
	case answer.Stored != nil:
		replayStored(c, answer.Stored)
	case answer.Turn != nil && k.replay != nil:
		k.replay(c, application.ResultOf(answer.Turn))
	case answer.Turn != nil:
		replayTurn(c, application.ResultOf(answer.Turn))
	}
}

// runCaptured runs handler with ctx as its request's context and returns
// its reply as written.
func runCaptured(c *gin.Context, ctx context.Context, handler func(*gin.Context) handled) application.Reply {
	orig := c.Request
	c.Request = c.Request.WithContext(ctx)
	capture := &captureWriter{ResponseWriter: c.Writer}
	c.Writer = capture
	out := handler(c)
	c.Writer, c.Request = capture.ResponseWriter, orig

	reply := application.Reply{Status: capture.Status(), Code: domain.ErrorCode(c.GetString(keyErrorCode)), TurnID: out.turnID, Unknown: out.unknown,
		Header: map[string]string{"Content-Type": capture.Header().Get("Content-Type")}, Body: capture.body.Bytes(),
		Left: ctx.Err() != nil}
	switch {
	case out.done != nil:
		reply.Header["Content-Type"] = "text/event-stream"
		reply.Body, _ = json.Marshal(out.done)
	case out.completion != nil:
		reply.Header["Content-Type"] = "text/event-stream"
		reply.Header[storedStreamFormat] = streamFormatOpenAI
		reply.Body, _ = json.Marshal(out.completion)
	case isEventStream(reply.Header["Content-Type"]):
		reply.Left = true // the stream ended without a done event: nothing to replay
	}
	return reply
}

// replayStored answers with a stored response and Idempotent-Replayed.
func replayStored(c *gin.Context, rec *ports.IdempotencyRecord) {
	if isEventStream(rec.Header["Content-Type"]) {
		if rec.Header[storedStreamFormat] == streamFormatOpenAI {
			defer c.Abort()
			c.Header("Idempotent-Replayed", "true")
			replayCompletionStream(c, rec.Body)
			return
		}
		var done doneEvent
		if err := json.Unmarshal(rec.Body, &done); err != nil {
			writeError(c, domain.WrapError(domain.CodeInternal, err, "stored stream answer is unreadable"))
			return
		}
		replayTurn(c, &done.ChatResult)
		return
	}
	defer c.Abort()
	c.Header("Idempotent-Replayed", "true")
	for k, v := range rec.Header {
		if v != "" {
			c.Header(k, v)
		}
	}
	c.Status(rec.Status)
	_, _ = c.Writer.Write(rec.Body)
}

// replayTurn answers with a turn's result, as the route would have: as one
// token event and the done event on a stream, else as JSON.
func replayTurn(c *gin.Context, res *application.ChatResult) {
	defer c.Abort()
	c.Header("Idempotent-Replayed", "true")
	if !strings.HasSuffix(c.FullPath(), "/stream") {
		writeChatResult(c, res)
		return
	}
	s := startStream(c, res.TurnID)
	if s.token(res.Response) == nil {
		_ = s.done(res)
	}
}

func isEventStream(contentType string) bool {
	return len(contentType) >= 17 && contentType[:17] == "text/event-stream"
}

// fingerprint identifies a request by method, path and canonical body, so
// a retry with the same JSON in another key order or spacing matches.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) == nil {
		if canonical, err := json.Marshal(v); err == nil {
			body = canonical
		}
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func validIdempotencyKey(k string) bool {
	if len(k) < 1 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// captureWriter copies what the handler writes, for storing.
type captureWriter struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) WriteString(s string) (int, error) {
	w.body.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}

// Unwrap lets a stream find the writers under this one (takeOver).
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
