package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/application"
	"focal/domain"
)

// OpenAIChannel is the channel of conversations held through the
// OpenAI-compatible routes.
const OpenAIChannel = "openai"

// userHeader keys the conversation when the body's user field is absent,
// for gateways that can add a header but not a body field.
const userHeader = "X-Focal-User"

// OpenAIRoutes serves OpenAI's chat completions and models API over the
// same engine, auth, rate limits, idempotency and turn records as
// /v1/chat: the model names the agent, the user field keys the
// conversation, and the session holds the history, so only the last user
// message of a request is read.
type OpenAIRoutes struct {
	chat    *application.ProcessMessage
	agents  *application.AgentDirectory
	auth    *Authenticator
	limits  *RateLimits
	idem    *keyed
	beats   *heartbeats
	streams StreamObserver
}

// NewOpenAIRoutes returns the OpenAI-compatible endpoints; streams, when
// not nil, hears of every completion stream.
func NewOpenAIRoutes(cfg Config, idem *application.Idempotency, chat *application.ProcessMessage, agents *application.AgentDirectory,
	auth *Authenticator, limits *RateLimits, streams StreamObserver) *OpenAIRoutes {
	return &OpenAIRoutes{chat: chat, agents: agents, auth: auth, limits: limits, beats: newHeartbeats(cfg.SSEHeartbeat), streams: streams,
		idem: &keyed{uc: idem, replay: replayCompletion}}
}

// Register implements Routes. The routes get their own /v1 group, so that
// errors of authentication and rate limiting are already in OpenAI's shape.
func (h *OpenAIRoutes) Register(public *gin.RouterGroup, _ *gin.RouterGroup) {
	v1 := public.Group("/v1", openAIDialect, authenticate(h.auth), h.limits.requests)
	v1.POST("/chat/completions", requireJSON, h.readCompletion, h.keyedCompletion, h.capStreams, h.postCompletion)
	v1.GET("/models", h.listModels)
}

// completionRequest is the part of OpenAI's chat completion request Focal
// reads. Sampling settings, tools and the like belong to the agent's
// policy: they are accepted and ignored.
type completionRequest struct {
	Model         string              `json:"model"`
	Messages      []completionMessage `json:"messages"`
	User          string              `json:"user,omitempty"`
	Stream        bool                `json:"stream,omitempty"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	N        *int           `json:"n,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

type completionMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// contentPart is one part of a message whose content is a list.
type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// keyCompletion holds the decoded request for the handlers after
// readCompletion.
const keyCompletion = "focal.completion_request"

var messageRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// readCompletion decodes and checks the body, so that the stream cap knows
// whether the request streams.
func (h *OpenAIRoutes) readCompletion(c *gin.Context) {
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		writeError(c, bodyReadError(err))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(raw)) // the Idempotency-Key fingerprint reads it again
	var req completionRequest
	if err := decodeBody(raw, &req, false); err != nil {
		writeError(c, err)
		return
	}
	var bad []domain.FieldError
	if len(req.Messages) == 0 {
		bad = append(bad, domain.FieldError{Field: "messages", Message: "must hold at least one message"})
	}
	for i, m := range req.Messages {
		if !messageRoles[m.Role] {
			bad = append(bad, domain.FieldError{Field: fmt.Sprintf("messages[%d].role", i),
				Message: "must be system, developer, user, assistant, tool or function"})
		}
	}
	if req.N != nil && *req.N != 1 {
		bad = append(bad, domain.FieldError{Field: "n", Message: "must be 1: an agent gives one reply per turn"})
	}
	if req.User == "" {
		req.User = c.GetHeader(userHeader)
	}
	if req.User == "" {
		bad = append(bad, domain.FieldError{Field: "user", Message: "is required (or the " + userHeader + " header): it keys the conversation"})
	}
	if len(bad) > 0 {
		writeError(c, domain.InvalidFields(bad...))
		return
	}
	c.Set(keyCompletion, &req)
	logctx.Add(c.Request.Context(), zap.String("model", req.Model))
	c.Next()
}

// keyHandled is where postCompletion leaves what it answered for
// keyedCompletion.
const keyHandled = "focal.handled"

// keyedCompletion runs the rest of the chain under the request's
// Idempotency-Key; when an earlier run answers, the chain stops there.
func (h *OpenAIRoutes) keyedCompletion(c *gin.Context) {
	ran := false
	h.idem.serve(c, func(c *gin.Context) handled {
		ran = true
		c.Next()
		out, _ := c.Get(keyHandled)
		answered, _ := out.(handled)
		return answered
	})
	if !ran {
		c.Abort()
	}
}

// replayCompletion answers a retry with the turn an earlier run committed,
// as a completion or a completion stream.
func replayCompletion(c *gin.Context, res *application.ChatResult) {
	defer c.Abort()
	c.Header("Idempotent-Replayed", "true")
	req := completionOf(c)
	done := newCompletion(req.Model, time.Now().Unix(), res)
	if !req.Stream {
		c.JSON(http.StatusOK, done)
		return
	}
	body, err := json.Marshal(storedCompletion{Completion: done, IncludeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage})
	if err != nil {
		writeError(c, domain.WrapError(domain.CodeInternal, err, "cannot encode the completion"))
		return
	}
	replayCompletionStream(c, body)
}

// capStreams holds streaming requests to the tenant's cap of open streams
// and plain ones to its cap of turns in flight, as on /v1/chat.
func (h *OpenAIRoutes) capStreams(c *gin.Context) {
	if completionOf(c).Stream {
		h.limits.openStreams(c)
		return
	}
	h.limits.inflightTurns(c)
}

func completionOf(c *gin.Context) *completionRequest {
	req, _ := c.Get(keyCompletion)
	return req.(*completionRequest)
}

// lastUserMessage is the text of the newest user message: the turn's
// message. Earlier ones are ignored, since the session holds the history.
func (r *completionRequest) lastUserMessage() (string, error) {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := r.Messages[i]
		if m.Role != "user" {
			continue
		}
		var text string
		if err := json.Unmarshal(m.Content, &text); err == nil {
			return text, nil
		}
		// Named only for an error: formatting it for every request cost
		// more than reading a plain message.
		field := fmt.Sprintf("messages[%d].content", i)
		var parts []contentPart
		if err := json.Unmarshal(m.Content, &parts); err != nil || len(parts) == 0 {
			return "", domain.InvalidFields(domain.FieldError{Field: field, Message: "must be a string or a list of text parts"})
		}
		texts := make([]string, len(parts))
		for j, p := range parts {
			if p.Type != "text" {
				return "", domain.InvalidFields(domain.FieldError{Field: fmt.Sprintf("%s[%d].type", field, j), Message: "must be text: agents read text only"})
			}
			texts[j] = p.Text
		}
		return strings.Join(texts, "\n"), nil
	}
	return "", domain.InvalidFields(domain.FieldError{Field: "messages", Message: "must hold a user message"})
}

// openAIFields are the chat command's fields as this API names them.
var openAIFields = map[string]string{"user_channel_id": "user", "message": "messages", "agent_id": "model"}

// renameFields restates a validation error in the request's own field names.
func renameFields(err error) error {
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeInvalidRequest || len(de.Details) == 0 {
		return err
	}
	out := *de
	out.Details = make([]domain.FieldError, len(de.Details))
	for i, d := range de.Details {
		if name, ok := openAIFields[d.Field]; ok {
			d.Field = name
		}
		out.Details[i] = d
	}
	return &out
}

// prepare resolves the agent and does everything of the turn that can fail
// before it runs; a failure has been answered when it returns nil.
func (h *OpenAIRoutes) prepare(c *gin.Context, req *completionRequest) *application.PreparedTurn {
	ctx := c.Request.Context()
	tenant := principal(c).TenantID
	message, err := req.lastUserMessage()
	if err != nil {
		writeError(c, err)
		return nil
	}
	agentID, err := h.agents.Resolve(ctx, tenant, req.Model)
	if err != nil {
		writeError(c, err)
		return nil
	}
	logctx.Add(ctx, zap.String("agent_id", agentID))
	turn, err := h.chat.Prepare(ctx, application.ChatCommand{
		TenantID:      tenant,
		AgentID:       agentID,
		Channel:       OpenAIChannel,
		UserChannelID: req.User,
		Message:       message,
		Metadata:      req.Metadata,
		RequestID:     requestID(c),
	})
	if err != nil {
		writeError(c, renameFields(err))
		return nil
	}
	logctx.Add(ctx, zap.String("session_id", turn.SessionID()), zap.String("turn_id", turn.TurnID()))
	return turn
}

// postCompletion runs one turn and answers with a chat completion, whole
// or as a stream of chunks.
func (h *OpenAIRoutes) postCompletion(c *gin.Context) {
	req := completionOf(c)
	turn := h.prepare(c, req)
	if turn == nil {
		return
	}
	created := time.Now().Unix()
	if req.Stream {
		h.stream(c, req, turn, created)
		return
	}
	res, err := turn.Run(c.Request.Context(), func(string) error { return nil })
	if err != nil {
		c.Set(keyHandled, turnFailed(c, err))
		return
	}
	c.Set(keyHandled, handled{turnID: res.TurnID})
	c.JSON(http.StatusOK, newCompletion(req.Model, created, res))
}

// completion is OpenAI's chat.completion object, with Focal's view of the
// turn added under focal.
type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   completionUsage    `json:"usage"`
	Focal   completionTurn     `json:"focal"`
}

type completionChoice struct {
	Index        int          `json:"index"`
	Message      replyMessage `json:"message"`
	FinishReason string       `json:"finish_reason"`
	Logprobs     *struct{}    `json:"logprobs"`
}

// replyMessage is the agent's reply as an assistant message.
type replyMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type completionUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// completionTurn names the session and turn of a completion and why the
// agent answered as it did.
type completionTurn struct {
	SessionID    string              `json:"session_id"`
	TurnID       string              `json:"turn_id"`
	Scenario     *domain.ScenarioRef `json:"scenario"`
	MatchedRules []string            `json:"matched_rules"`
	ToolsCalled  []string            `json:"tools_called"`
}

// completionID is the completion's id: the turn's, so a client can look
// the turn up.
func completionID(turnID string) string { return "chatcmpl-" + turnID }

// completionCreated is a completion's creation time: the second its turn
// id (a UUIDv7) was made, so a replay of the turn states the same time as
// the first answer did; fallback when the id carries no time.
func completionCreated(turnID string, fallback int64) int64 {
	id, err := uuid.Parse(turnID)
	if err != nil || id.Version() != 7 {
		return fallback
	}
	sec, _ := id.Time().UnixTime()
	return sec
}

func newCompletion(model string, created int64, res *application.ChatResult) completion {
	return completion{
		ID: completionID(res.TurnID), Object: "chat.completion", Created: completionCreated(res.TurnID, created), Model: model,
		Choices: []completionChoice{{Message: replyMessage{Role: "assistant", Content: res.Response}, FinishReason: "stop"}},
		Usage:   usageOf(res),
		Focal:   turnOf(res),
	}
}

func usageOf(res *application.ChatResult) completionUsage {
	return completionUsage{PromptTokens: res.Usage.Prompt, CompletionTokens: res.Usage.Completion, TotalTokens: res.Usage.Total()}
}

func turnOf(res *application.ChatResult) completionTurn {
	return completionTurn{SessionID: res.SessionID, TurnID: res.TurnID, Scenario: res.Scenario,
		MatchedRules: res.MatchedRules, ToolsCalled: res.ToolsCalled}
}

// modelList is OpenAI's list of models: the tenant's enabled agents.
type modelList struct {
	Object string       `json:"object"`
	Data   []modelEntry `json:"data"`
}

type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// Name is the agent's name: "agent:" + Name is a model too.
	Name string `json:"name"`
}

func (h *OpenAIRoutes) listModels(c *gin.Context) {
	agents, err := h.agents.Enabled(c.Request.Context(), principal(c).TenantID)
	if err != nil {
		writeError(c, err)
		return
	}
	out := modelList{Object: "list", Data: make([]modelEntry, len(agents))}
	for i, a := range agents {
		var created int64
		if !a.CreatedAt.IsZero() {
			created = a.CreatedAt.Unix()
		}
		out.Data[i] = modelEntry{ID: a.ID, Object: "model", Created: created, OwnedBy: "focal", Name: a.Name}
	}
	c.JSON(http.StatusOK, out)
}
