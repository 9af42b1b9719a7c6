// Package fakellm provides fake model servers that speak the OpenAI
// chat-completions/embeddings and Anthropic messages wire formats, plain JSON
// and SSE streaming, with scripted replies and fault injection.
//
// One Server answers both providers on one listener:
//
//	POST /v1/chat/completions  (also /chat/completions)  OpenAI chat
//	POST /v1/embeddings        (also /embeddings)        OpenAI embeddings
//	POST /v1/messages                                    Anthropic messages
//	POST /v1/messages/count_tokens                       Anthropic token count
//	GET  /healthz                                        liveness
//
// It is meant for tests, demos and benchmarks, so every reply and fault is
// deterministic unless a Responder chooses otherwise.
package fakellm

import (
	"net/http"
	"time"
)

// AtStart makes a StallAfter/MalformedAfter/ErrorAfter/DisconnectAfter fault
// fire before the first delta, since 0 means "no fault".
const AtStart = -1

// API identifies which endpoint family a request hit.
type API string

// Endpoint families recorded in Request.API.
const (
	APIOpenAIChat        API = "openai.chat"
	APIOpenAIEmbeddings  API = "openai.embeddings"
	APIAnthropicMessages API = "anthropic.messages"
	APIAnthropicCount    API = "anthropic.count_tokens"
	APIHealth            API = "health"
	APIUnknown           API = "unknown"
)

// Reply is one scripted answer: its content plus any faults to inject.
//
// Zero fields mean "not set"; server defaults (WithDefaults) fill them in, so a
// per-reply field can add a fault but cannot switch off a default one.
// Position faults (…After) count content deltas already sent: K>0 fires after
// K deltas (clamped to the number of deltas), AtStart fires before the first;
// at one position they apply in the order stall, malformed, error, disconnect.
// On non-streaming requests any non-zero K applies to the whole response: a
// stall holds the headers, malformed sends half the JSON body, disconnect
// sends half and cuts the connection, error answers HTTP 500 (OpenAI) or 529
// (Anthropic).
type Reply struct {
	// Text is the reply content, split into word-sized deltas when streamed.
	Text string
	// Deltas, when non-nil, is the exact streamed split and overrides Text.
	Deltas []string
	// FinishReason overrides "stop"/"end_turn"; "length" and "max_tokens"
	// are translated to each provider's spelling.
	FinishReason string

	// Status >= 400 answers with a provider-shaped error body instead.
	Status int
	// ErrorType overrides the provider error type derived from Status.
	ErrorType string
	// ErrorMessage overrides the default error message.
	ErrorMessage string
	// RetryAfter sets Retry-After (whole seconds, rounded up) and
	// Retry-After-Ms on the response; both SDKs read them on errors.
	RetryAfter time.Duration

	// HeaderDelay delays the response headers (slow first byte).
	HeaderDelay time.Duration
	// FirstTokenDelay delays the first content delta after the headers.
	FirstTokenDelay time.Duration
	// TokenInterval is the pause between consecutive content deltas.
	TokenInterval time.Duration

	// StallAfter blocks the stream after K deltas until the client goes
	// away, the server closes, or StallFor elapses (then it resumes).
	StallAfter int
	// StallFor bounds a stall; zero stalls until the client gives up.
	StallFor time.Duration
	// StallUntil, when set, ends a stall once it is closed: the test
	// decides when the stream goes on.
	StallUntil <-chan struct{}
	// MalformedAfter writes a data line with invalid JSON after K deltas.
	MalformedAfter int
	// ErrorAfter sends a provider error event mid-stream after K deltas and
	// ends the stream.
	ErrorAfter int
	// DisconnectAfter closes the TCP connection after K deltas without
	// finishing the chunked body.
	DisconnectAfter int
	// OmitUsage leaves usage out of bodies and streams.
	OmitUsage bool
}

// Responder computes the reply for a chat request that has no scripted reply.
type Responder func(req Request) Reply

// Message is one conversation turn, flattened to text.
type Message struct {
	Role    string
	Content string
}

// Request is what the server recorded about one received request.
type Request struct {
	// Index is the 0-based arrival order across all endpoints.
	Index int
	API   API
	// Method, Path, Header and RawBody are as received.
	Method  string
	Path    string
	Header  http.Header
	RawBody []byte
	// Body is RawBody decoded as a JSON object (nil if it was not one).
	Body map[string]any

	// Model, Stream and IncludeUsage are lifted from the body.
	Model        string
	Stream       bool
	IncludeUsage bool
	// System is Anthropic's system prompt, or OpenAI system/developer turns
	// joined by newlines (those also stay in Messages).
	System   string
	Messages []Message
	// Input holds the embeddings inputs.
	Input []string

	// Start is when the handler began serving the request.
	Start time.Time
	// Finished reports that the handler has returned.
	Finished bool
	// Cancelled reports that the request context was cancelled while the
	// handler was still running (the client went away).
	Cancelled bool
	// CancelledAfter is the time from Start until cancellation was seen.
	CancelledAfter time.Duration
}

// LastUser returns the content of the last user turn, or "".
func (r Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// PromptTokens is the deterministic input token count used in usage.
func (r Request) PromptTokens() int {
	n := CountTokens(r.System)
	for _, m := range r.Messages {
		if m.Role == "system" || m.Role == "developer" {
			continue // already counted through System
		}
		n += CountTokens(m.Content)
	}
	for _, in := range r.Input {
		n += CountTokens(in)
	}
	return n
}

// Option configures a Server at construction.
type Option func(*Server)

// WithResponder sets the fallback reply function (default Echo).
func WithResponder(fn Responder) Option { return func(s *Server) { s.responder = fn } }

// WithDefaults sets fault/timing defaults applied to every reply.
func WithDefaults(r Reply) Option { return func(s *Server) { s.defaults = r } }

// WithModel sets the model name reported when a request names none.
func WithModel(name string) Option { return func(s *Server) { s.model = name } }

// WithEmbeddingDim sets the default embedding dimension (default 64).
func WithEmbeddingDim(n int) Option { return func(s *Server) { s.embedDim = n } }
