package llm

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"focal/domain"
	"focal/ports"
)

// DefaultAnthropicBaseURL is Anthropic's own API.
const DefaultAnthropicBaseURL = "https://api.anthropic.com"

// defaultAnthropicMaxTokens applies when a request sets no cap: the
// Messages API requires one.
const defaultAnthropicMaxTokens = 1024

// jsonInstruction stands in for OpenAI's response_format, which the
// Messages API lacks.
const jsonInstruction = "Reply with exactly one JSON object and nothing else: no prose, no code fence."

// AnthropicConfig configures a ChatModel on the Anthropic Messages API.
type AnthropicConfig struct {
	// BaseURL ends before /v1/messages (default DefaultAnthropicBaseURL).
	BaseURL string
	// APIKey authenticates; empty sends none (a gateway that adds it).
	APIKey string
	// Model is used when a request names none.
	Model string
	// ExtraHeaders are added to every request.
	ExtraHeaders map[string]string
	// HTTPClient carries the connect timeout (nil: NewHTTPClient(5s)).
	HTTPClient *http.Client
}

// Anthropic is a ChatModel on the Messages API, always streaming.
//
// The API takes one system prompt, so every system-role message, wherever
// it stands, is appended to it in order, separated by a blank line. That
// includes the engine's regeneration notes, which follow the user's
// message: as system text they keep the operator's authority instead of
// posing as something the customer said.
//
// Temperature is not sent: anthropic-sdk-go v2 pins API version 2026-10-21,
// whose Messages request has no temperature field.
type Anthropic struct {
	client anthropic.Client
	model  string
	key    string
}

var _ ports.ChatModel = (*Anthropic)(nil)

// NewAnthropic returns a ChatModel for cfg.
func NewAnthropic(cfg AnthropicConfig) (*Anthropic, error) {
	if cfg.Model == "" {
		return nil, errors.New("anthropic: a model is required")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultAnthropicBaseURL
	}
	client := cfg.HTTPClient
	if client == nil {
		client = NewHTTPClient(0)
	}
	opts := []option.RequestOption{
		// ANTHROPIC_* variables and profile files must not override Focal's
		// configuration.
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(base),
		option.WithHTTPClient(client),
		option.WithMaxRetries(0), // the resilience Guard owns retries
		option.WithMiddleware(releaseRequestBody),
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	for k, v := range cfg.ExtraHeaders {
		opts = append(opts, option.WithHeader(k, v))
	}
	return &Anthropic{client: anthropic.NewClient(opts...), model: cfg.Model, key: cfg.APIKey}, nil
}

// StreamChat implements ports.ChatModel: text deltas go to onDelta as
// received; usage is input (including cache reads and writes) plus output
// tokens.
func (m *Anthropic) StreamChat(ctx context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	model := m.model
	if req.Model != "" {
		model = req.Model
	}
	who := "anthropic/" + model
	params, err := anthropicParams(model, req)
	if err != nil {
		return ports.ChatResult{}, err
	}
	res := ports.ChatResult{Provider: "anthropic", Model: model}
	var text strings.Builder
	stream := openStream[*messageEvent](func(raw **http.Response) error {
		return m.client.Post(ctx, "v1/messages", params, raw, option.WithJSONSet("stream", true))
	})
	defer stream.Close()
	finished := false
	for stream.Next() {
		var ev messageEventRead
		if err := ev.decode(stream.Current()); err != nil {
			return endOfStream(ctx, res, text.String(), err, finished, who, m.key)
		}
		switch ev.typ {
		case "message_start":
			if ev.message.Model != "" {
				res.Model = ev.message.Model
			}
			u := ev.messageUsage
			res.Usage.Prompt = int(u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens)
			res.Usage.Completion = int(u.OutputTokens)
		case "content_block_delta":
			if ev.delta.Type != "text_delta" || ev.delta.Text == "" {
				continue // thinking, signatures, tool input: not reply text
			}
			text.WriteString(ev.delta.Text)
			if err := onDelta(ev.delta.Text); err != nil {
				res.Text = text.String()
				return res, err
			}
		case "message_delta":
			// Counts here are cumulative and final.
			u := ev.usage
			if in := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens; in > 0 {
				res.Usage.Prompt = int(in)
			}
			if u.OutputTokens > 0 {
				res.Usage.Completion = int(u.OutputTokens)
			}
		case "message_stop":
			finished = true
		}
	}
	return endOfStream(ctx, res, text.String(), stream.Err(), finished, who, m.key)
}

// messageEvent is what Focal reads of a Messages stream event: a plain
// struct, where the SDK's event union decodes through a reflective decoder
// deep enough to grow every waiting stream's stack, read one object level
// at a time as chatChunk is (the stream's decoding keeps the nested objects
// undecoded; messageEventRead.decode reads them after it has returned).
type messageEvent struct {
	Type    string  `json:"type"`
	Message rawJSON `json:"message"`
	Delta   rawJSON `json:"delta"`
	Usage   rawJSON `json:"usage"`
}

// messageEventRead is an event's nested objects, decoded.
type messageEventRead struct {
	typ     string
	message struct {
		Model string  `json:"model"`
		Usage rawJSON `json:"usage"`
	}
	messageUsage anthropicUsage
	delta        struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	usage anthropicUsage
}

// decode reads ev's nested objects, each a call of its own to
// encoding/json, with the same values and type errors as one call on the
// whole event. ev is emptied (nil is a "null" event): its undecoded parts
// hold the event's data, which the stream would keep while it waits for
// the next one (see chatChunkRead.decode).
func (r *messageEventRead) decode(ev *messageEvent) error {
	if ev == nil {
		return nil
	}
	defer func() { *ev = messageEvent{} }()
	r.typ = ev.Type
	for _, part := range [...]struct {
		raw rawJSON
		v   any
	}{{ev.Message, &r.message}, {ev.Delta, &r.delta}, {ev.Usage, &r.usage}} {
		if err := part.raw.decode(part.v); err != nil {
			return err
		}
	}
	return r.message.Usage.decode(&r.messageUsage)
}

type anthropicUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// anthropicParams builds the request: system-role messages joined into the
// system prompt, the rest as alternating turns with consecutive same-role
// messages merged (the API rejects two user turns in a row). On the heap:
// the struct is 1.6 KiB, and a local copy would sit in StreamChat's frame
// on the stack the turn then waits on for tokens (see OpenAI.params).
func anthropicParams(model string, req ports.ChatRequest) (*anthropic.MessageNewParams, error) {
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = defaultAnthropicMaxTokens
	}
	p := &anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: int64(maxTokens)}
	var system []string
	type turn struct {
		role  string
		parts []string
	}
	var turns []turn
	for _, msg := range req.Messages {
		switch msg.Role {
		case ports.RoleSystem:
			if strings.TrimSpace(msg.Content) != "" {
				system = append(system, msg.Content)
			}
		case ports.RoleUser, ports.RoleAssistant:
			if strings.TrimSpace(msg.Content) == "" {
				continue // the API rejects empty text blocks
			}
			if n := len(turns); n > 0 && turns[n-1].role == msg.Role {
				turns[n-1].parts = append(turns[n-1].parts, msg.Content)
				continue
			}
			turns = append(turns, turn{role: msg.Role, parts: []string{msg.Content}})
		default:
			return p, domain.Errorf(domain.CodeInternal, "chat message role %q is not supported", msg.Role)
		}
	}
	if len(turns) == 0 {
		return p, domain.Errorf(domain.CodeInternal, "a chat request needs a user message")
	}
	if req.JSON {
		system = append(system, jsonInstruction)
	}
	if len(system) > 0 {
		p.System = []anthropic.TextBlockParam{{Text: strings.Join(system, "\n\n")}}
	}
	for _, t := range turns {
		block := anthropic.NewTextBlock(strings.Join(t.parts, "\n\n"))
		if t.role == ports.RoleUser {
			p.Messages = append(p.Messages, anthropic.NewUserMessage(block))
		} else {
			p.Messages = append(p.Messages, anthropic.NewAssistantMessage(block))
		}
	}
	return p, nil
}
