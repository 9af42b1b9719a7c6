package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-contrib/sse"
	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/application"
	"focal/domain"
)

// Stream events (docs/api.md, "Chat"): token* then exactly one done or
// error.
type tokenEvent struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

type doneEvent struct {
	Type string `json:"type"`
	application.ChatResult
}

type errorEvent struct {
	Type    string           `json:"type"`
	Code    domain.ErrorCode `json:"code"`
	Message string           `json:"message"`
	// Outcome and TurnID: as in an error body.
	Outcome string `json:"outcome,omitempty"`
	TurnID  string `json:"turn_id,omitempty"`
}

// sseStream writes one turn's events. Writes come from the turn (tokens)
// and the heartbeats; a mutex keeps frames whole.
type sseStream struct {
	mu sync.Mutex
	w  gin.ResponseWriter
	// conn is the connection when the stream took it over (takeOver);
	// nil: frames go through w.
	conn *streamConn
	// ctx is what the turn runs under: the request's context, or one
	// cancelled when the client leaves a taken-over connection.
	ctx    context.Context
	turnID string
	seq    int
	buf    bytes.Buffer
	closed bool
	beat   beat
}

// A stream's header values, set as Header.Set would set them but without
// a list made and a key checked for its canonical form on every stream:
// each list's length and capacity are 1, so nothing appends to it in
// place, and net/http only reads it (as jsonContentType).
var (
	eventStreamContentType = []string{"text/event-stream; charset=utf-8"}
	noStore                = []string{"no-store"}
	noBuffering            = []string{"no"}
	keepAlive              = []string{"keep-alive"}
	connectionClose        = []string{"close"}
)

// startStream commits the response to SSE: status, headers, first flush.
// Over HTTP/1.1 the stream takes the connection over from net/http
// (takeOver) and closes it when the request ends.
func startStream(c *gin.Context, turnID string) *sseStream {
	h := c.Writer.Header()
	h[headerContentType] = eventStreamContentType
	h["Cache-Control"] = noStore
	h["X-Accel-Buffering"] = noBuffering
	c.Status(http.StatusOK)
	s := &sseStream{w: c.Writer, turnID: turnID}
	if s.conn, s.ctx = takeOver(c); s.conn != nil {
		return s
	}
	h["Connection"] = keepAlive
	c.Writer.WriteHeaderNow()
	c.Writer.Flush()
	return s
}

// write sends one whole frame to the client.
func (s *sseStream) write(frame []byte) error {
	if s.conn != nil {
		return s.conn.write(frame)
	}
	if _, err := s.w.Write(frame); err != nil {
		return err
	}
	s.w.Flush()
	return nil
}

// event writes one frame with the next id and flushes it to the client.
func (s *sseStream) event(name string, data any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("stream already ended")
	}
	s.seq++
	s.buf.Reset()
	if err := sse.Encode(&s.buf, sse.Event{Id: s.turnID + ":" + strconv.Itoa(s.seq), Event: name, Data: data}); err != nil {
		return err
	}
	if err := s.write(s.buf.Bytes()); err != nil {
		return err
	}
	if name != "token" {
		s.closed = true
	}
	return nil
}

func (s *sseStream) token(delta string) error {
	return s.event("token", tokenEvent{Type: "token", Content: delta})
}

func (s *sseStream) done(r *application.ChatResult) error {
	return s.event("done", doneEvent{Type: "done", ChatResult: *r})
}

func (s *sseStream) fail(c *gin.Context, err error) {
	_, payload, _ := errorPayload(c, err)
	if HTTPStatus(payload.Code) >= 500 {
		logctx.From(c.Request.Context(), zap.NewNop()).Error("stream failed", zap.String("code", string(payload.Code)), zap.Error(err))
	}
	_ = s.event("error", errorEvent{Type: "error", Code: payload.Code, Message: payload.Message,
		Outcome: payload.Outcome, TurnID: payload.TurnID})
}

// postStream runs one turn and streams the reply as Server-Sent Events.
// Everything that can fail before the engine starts answers as JSON.
func (h *ChatRoutes) postStream(c *gin.Context) handled {
	turn := h.prepareStream(c)
	if turn == nil {
		return handled{}
	}
	s := startStream(c, turn.TurnID())
	ctx := s.ctx
	if h.streams != nil {
		h.streams.StreamOpened()
		defer h.streams.StreamClosed()
	}
	h.beats.start(s)
	defer h.beats.stop(s)
	res, err := turn.Run(ctx, s.token)
	if err != nil {
		if tell, err := toTell(ctx, err); tell {
			s.fail(c, err)
		}
		return unknownTurn(err)
	}
	return streamDone(s, res)
}

// prepareStream decodes the request and prepares its turn; nil when the
// request was answered already (invalid, a reconnect replayed, refused).
// The decoded request lives in this frame, not in postStream's, which is
// on the stack while the turn waits for the model.
func (h *ChatRoutes) prepareStream(c *gin.Context) *application.PreparedTurn {
	req, ok := decodeChat(c)
	if !ok {
		return nil
	}
	if last := c.GetHeader("Last-Event-ID"); last != "" {
		h.replay(c, req.command(c), last)
		return nil
	}
	return h.prepare(c, req)
}

// streamDone sends the done event of a finished turn.
func streamDone(s *sseStream, res *application.ChatResult) handled {
	if s.done(res) != nil {
		return handled{turnID: res.TurnID}
	}
	return handled{turnID: res.TurnID, done: &doneEvent{Type: "done", ChatResult: *res}}
}

// replay answers a reconnect that names the last event it saw: the missing
// events of a finished turn of the message's conversation are sent again
// from the turn record; a turn not recorded yet that may still be running
// is TURN_IN_PROGRESS, so the client retries instead of sending its
// message again.
func (h *ChatRoutes) replay(c *gin.Context, cmd application.ChatCommand, lastEventID string) {
	turnID, seqText, ok := strings.Cut(lastEventID, ":")
	seq, err := strconv.Atoi(seqText)
	if !ok || err != nil || seq < 0 || !application.IsUUID(turnID) {
		writeError(c, domain.InvalidFields(domain.FieldError{Field: "Last-Event-ID", Message: "must be <turn_id>:<sequence> as sent in an event id"}))
		return
	}
	turnID = strings.ToLower(turnID)
	t, err := h.turns.Turn(c.Request.Context(), principal(c).TenantID, turnID)
	if domain.IsCode(err, domain.CodeTurnNotFound) {
		err = h.chat.Unrecorded(turnID, err)
	}
	if err == nil {
		err = h.turns.IsTheMessagesTurn(c.Request.Context(), cmd, t)
	}
	if err != nil {
		writeError(c, err)
		return
	}
	s := startStream(c, t.ID)
	for i, d := range t.Deltas {
		if i+1 > seq {
			s.seq = i
			if s.token(d) != nil {
				return
			}
		}
	}
	s.seq = len(t.Deltas)
	if t.Status != domain.TurnCompleted {
		code := t.ErrorCode
		if code == "" {
			code = domain.CodeInternal
		}
		_ = s.event("error", errorEvent{Type: "error", Code: code, Message: fmt.Sprintf("the turn ended %s", t.Status)})
		return
	}
	_ = s.done(application.ResultOf(t))
}
