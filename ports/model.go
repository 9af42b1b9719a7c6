package ports

import (
	"context"

	"focal/domain"
)

// Chat message roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// ChatMessage is one message of a model conversation.
type ChatMessage struct {
	Role    string
	Content string
}

// ChatRequest asks a chat model for one reply.
type ChatRequest struct {
	// Model overrides the adapter's configured model when set.
	Model string
	// Messages are the conversation, system message first.
	Messages    []ChatMessage
	Temperature *float64
	// MaxTokens caps the reply; 0 leaves it to the model.
	MaxTokens int
	// JSON asks for a reply that is one JSON object.
	JSON bool
}

// ChatResult is a finished model reply.
type ChatResult struct {
	Text     string
	Usage    domain.TokenUsage
	Provider string
	Model    string
}

// ErrOffline is returned by a chat model that cannot generate text (the
// offline model). The engine answers from templates instead.
var ErrOffline = domain.Errorf(domain.CodeLLMUnavailable, "no chat model is configured")

// ChatModel generates replies.
//
// StreamChat sends req and calls onDelta with each piece of reply text as it
// arrives, in order, from the calling goroutine; it returns once the reply is
// complete, with the whole text and its usage. When onDelta returns an error
// the call is abandoned and that error returned. Cancelling ctx cancels the
// model request.
//
// Errors: LLM_ERROR when the model answered with an error, LLM_UNAVAILABLE
// when it could not be reached or its breaker is open (RetryAfter set when
// known), TIMEOUT when a deadline passed, ErrOffline for the offline model.
// Safe for concurrent use.
type ChatModel interface {
	StreamChat(ctx context.Context, req ChatRequest, onDelta func(string) error) (ChatResult, error)
}

// OfflineModel is a ChatModel that may know, before any call, that it
// never generates: Offline true means every StreamChat answers ErrOffline,
// whatever the request and context, for the model's whole life (the
// offline model, or a wrapper around it). Callers then build no request
// for it; a model that does not implement it is called as usual.
type OfflineModel interface {
	ChatModel
	Offline() bool
}

// IsOffline reports whether m says it never generates (OfflineModel).
func IsOffline(m ChatModel) bool {
	o, ok := m.(OfflineModel)
	return ok && o.Offline()
}

// Embedder turns texts into vectors for semantic matching.
//
// Embed returns one vector per text, all of one dimension. Errors as
// ChatModel. Safe for concurrent use.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// ToolInput is what a tool webhook receives.
type ToolInput struct {
	Message   string         `json:"message"`
	Variables map[string]any `json:"variables"`
	RuleID    string         `json:"rule_id"`
	SessionID string         `json:"session_id"`
	TenantID  string         `json:"tenant_id"`
	AgentID   string         `json:"agent_id"`
	// TurnID is the turn the call belongs to: with the tool's id it makes
	// the call's idempotency key, the same for every retry of the call.
	TurnID string `json:"turn_id"`
	// ToolID is the tool called; the invoker sets it from the tool.
	ToolID string `json:"tool_id"`
}

// ToolInvoker calls tools bound to rules.
//
// InvokeTool calls tool with in and returns the variables it produced.
// Every attempt of one call carries the same idempotency key,
// "<in.TurnID>:<tool.ID>", and the same body; a tool with a secret gets
// each attempt signed (docs/agent-bundle.md, "Tools").
// Errors: TIMEOUT when ctx's deadline (the tool's timeout) passed,
// INTERNAL_ERROR when the tool failed or answered badly. The engine records
// a failed call and goes on without its outputs. Safe for concurrent use.
type ToolInvoker interface {
	InvokeTool(ctx context.Context, tool domain.Tool, in ToolInput) (map[string]any, error)
}

// ToolAddresses judges tool URLs, when they are written, against the
// addresses this process's tool calls may reach.
//
// Refuses reports, without any I/O, whether every call to rawURL is
// certain to be refused: its host is an address literal (or a localhost
// name) in a range tool calls may not reach, and the operator has not
// exempted it. why names the address and its kind and says how an
// operator exempts it. A host name that needs DNS is never refused: what
// it resolves to can change before any call, which judges it then. A URL
// that cannot be parsed is not refused either (validation reports it).
// Safe for concurrent use.
type ToolAddresses interface {
	Refuses(rawURL string) (why string, refused bool)
}
