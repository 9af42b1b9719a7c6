package httpapi

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/application"
	"focal/domain"
)

// ChatRequest is the body of POST /v1/chat and /v1/chat/stream.
type ChatRequest struct {
	TenantID      string         `json:"tenant_id,omitempty"`
	AgentID       string         `json:"agent_id"`
	Channel       string         `json:"channel"`
	UserChannelID string         `json:"user_channel_id"`
	Message       string         `json:"message"`
	SessionID     string         `json:"session_id,omitempty"`
	Metadata      map[string]any `json:"metadata,omitempty"`
}

// command turns the request into the use case's command; ids are UUIDs,
// compared in lower case.
func (r ChatRequest) command(c *gin.Context) application.ChatCommand {
	return application.ChatCommand{
		TenantID:      principal(c).TenantID,
		BodyTenantID:  lowerID(r.TenantID),
		AgentID:       lowerID(r.AgentID),
		Channel:       r.Channel,
		UserChannelID: r.UserChannelID,
		Message:       r.Message,
		SessionID:     lowerID(r.SessionID),
		Metadata:      r.Metadata,
		RequestID:     requestID(c),
	}
}

// lowerID is strings.ToLower(id). An id is most often in lower case
// ASCII already (a UUID as clients send it), which is found eight bytes at
// a time and returned as it is; any other goes to strings.ToLower, which
// tests its bytes one at a time.
func lowerID(id string) string {
	i := 0
	for ; i+8 <= len(id); i += 8 {
		x := loadWord(id, i)
		low := x & wordLow7
		upper := atLeast(low, 'A') &^ atLeast(low, 'Z'+1)
		if (x|upper)&wordHigh != 0 {
			return strings.ToLower(id)
		}
	}
	for ; i < len(id); i++ {
		if c := id[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return strings.ToLower(id)
		}
	}
	return id
}

// ChatRoutes serves the chat endpoints.
type ChatRoutes struct {
	chat    *application.ProcessMessage
	turns   *application.Conversations
	beats   *heartbeats
	idem    *keyed
	limits  *RateLimits
	streams StreamObserver
}

// StreamObserver is told when an SSE stream opens and closes (metrics).
type StreamObserver interface {
	StreamOpened()
	StreamClosed()
}

// NewChatRoutes returns the chat endpoints over the use cases; streams,
// when not nil, hears of every chat stream.
func NewChatRoutes(cfg Config, chat *application.ProcessMessage, turns *application.Conversations,
	idem *application.Idempotency, limits *RateLimits, streams StreamObserver) *ChatRoutes {
	return &ChatRoutes{chat: chat, turns: turns, beats: newHeartbeats(cfg.SSEHeartbeat), limits: limits, streams: streams,
		idem: &keyed{uc: idem}}
}

// Register implements Routes.
func (h *ChatRoutes) Register(_ *gin.RouterGroup, v1 *gin.RouterGroup) {
	v1.POST("/chat", requireJSON, h.limits.inflightTurns, func(c *gin.Context) { h.idem.serve(c, h.postChat) })
	v1.POST("/chat/stream", requireJSON, h.limits.openStreams, func(c *gin.Context) { h.idem.serve(c, h.postStream) })
}

// decodeChat reads the chat body; a bad one has been answered when it
// returns false.
func decodeChat(c *gin.Context) (ChatRequest, bool) {
	var req ChatRequest
	if err := decodeChatRequest(c.Request, &req); err != nil {
		writeError(c, err)
		return req, false
	}
	logctx.Add(c.Request.Context(), zap.String("agent_id", req.AgentID))
	return req, true
}

// prepare does everything of a turn that can fail before it runs; a
// failure has been answered when it returns nil. Both routes share it, so
// they fail alike.
func (h *ChatRoutes) prepare(c *gin.Context, req ChatRequest) *application.PreparedTurn {
	turn, err := h.chat.Prepare(c.Request.Context(), req.command(c))
	if err != nil {
		writeError(c, err)
		return nil
	}
	logctx.Add(c.Request.Context(), zap.String("session_id", turn.SessionID()), zap.String("turn_id", turn.TurnID()))
	return turn
}

// postChat runs one turn and answers with the whole reply.
func (h *ChatRoutes) postChat(c *gin.Context) handled {
	req, ok := decodeChat(c)
	if !ok {
		return handled{}
	}
	turn := h.prepare(c, req)
	if turn == nil {
		return handled{}
	}
	res, err := turn.Run(c.Request.Context(), func(string) error { return nil })
	if err != nil {
		return turnFailed(c, err)
	}
	writeChatResult(c, res)
	return handled{turnID: res.TurnID}
}

// turnFailed answers a turn that failed with a whole-reply answer, on both
// chat dialects: a turn the server cut because it is shutting down is told
// so (TIMEOUT with Retry-After), whatever error its run ended with. It
// returns what the request handled, for its Idempotency-Key.
func turnFailed(c *gin.Context, err error) handled {
	_, shown := toTell(c.Request.Context(), err)
	writeError(c, shown)
	return unknownTurn(err)
}

// unknownTurn is what a failed turn handled: nothing, unless the error
// is of unknown outcome, which names the turn.
func unknownTurn(err error) handled {
	var de *domain.Error
	if errors.As(err, &de) && de.Outcome == domain.OutcomeUnknown {
		return handled{turnID: de.TurnID, unknown: true}
	}
	return handled{}
}

// ErrShuttingDown ends the requests still running when a stopping server's
// drain deadline passes (the cause of their contexts): their turns are
// recorded as interrupted, and the client hears why.
var ErrShuttingDown = &domain.Error{Code: domain.CodeTimeout, RetryAfter: time.Second,
	Message: "the service is shutting down and the turn did not finish within its drain deadline; retry"}

// toTell reports whether a failed turn has a client to tell, and what it
// is told: nobody when the client left, but when the server ended the
// request because it is shutting down, the client hears that, unless the
// turn's commit may have landed: "retry" would then hide the turn id the
// client must look up first, so it hears the unknown outcome.
func toTell(ctx context.Context, err error) (bool, error) {
	if ctx.Err() == nil {
		return true, err
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrShuttingDown) {
		if domain.IsUnknownOutcome(err) {
			return true, err
		}
		return true, cause
	}
	return false, err
}
