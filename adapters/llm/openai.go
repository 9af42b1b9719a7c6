package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"focal/domain"
	"focal/ports"
)

// DefaultOpenAIBaseURL is OpenAI's own API.
const DefaultOpenAIBaseURL = "https://api.openai.com/v1"

// OpenAIConfig configures a ChatModel or Embedder on OpenAI or any server
// speaking its API (vLLM, Ollama, llama.cpp, gateways).
type OpenAIConfig struct {
	// BaseURL ends before /chat/completions (default DefaultOpenAIBaseURL).
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none (local servers).
	APIKey string
	// Model is used when a request names none.
	Model string
	// Organization is sent as OpenAI-Organization when set.
	Organization string
	// ExtraHeaders are added to every request (gateway keys, tenancy).
	ExtraHeaders map[string]string
	// HTTPClient carries the connect timeout (nil: NewHTTPClient(5s)).
	HTTPClient *http.Client
}

func (c OpenAIConfig) options() []option.RequestOption {
	base := c.BaseURL
	if base == "" {
		base = DefaultOpenAIBaseURL
	}
	client := c.HTTPClient
	if client == nil {
		client = NewHTTPClient(0)
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithAPIKey(c.APIKey),
		option.WithHTTPClient(client),
		// One retry policy governs: the resilience Guard's.
		option.WithMaxRetries(0),
		option.WithMiddleware(releaseRequestBody),
	}
	// The SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment;
	// Focal's configuration is the only source, so those are cleared.
	if c.Organization != "" {
		opts = append(opts, option.WithOrganization(c.Organization))
	} else {
		opts = append(opts, option.WithHeaderDel("OpenAI-Organization"))
	}
	opts = append(opts, option.WithHeaderDel("OpenAI-Project"))
	for k, v := range c.ExtraHeaders {
		opts = append(opts, option.WithHeader(k, v))
	}
	return opts
}

// OpenAI is a ChatModel on the chat-completions API, always streaming.
type OpenAI struct {
	client openai.Client
	model  string
	key    string
	// completionTokens sends max_completion_tokens, which OpenAI's newer
	// models require, instead of max_tokens, which compatible servers know.
	completionTokens bool
}

var _ ports.ChatModel = (*OpenAI)(nil)

// NewOpenAI returns a ChatModel for cfg.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if cfg.Model == "" {
		return nil, errors.New("openai: a model is required")
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("openai: base URL: %w", err)
	}
	return &OpenAI{
		client:           openai.NewClient(cfg.options()...),
		model:            cfg.Model,
		key:              cfg.APIKey,
		completionTokens: isOpenAIHost(cfg.BaseURL),
	}, nil
}

func isOpenAIHost(base string) bool {
	if base == "" {
		return true
	}
	u, err := url.Parse(base)
	return err == nil && strings.EqualFold(u.Hostname(), "api.openai.com")
}

// StreamChat implements ports.ChatModel. Each non-empty content delta goes
// to onDelta exactly as received; usage comes from the final chunk that
// stream_options.include_usage asks for.
func (m *OpenAI) StreamChat(ctx context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	model := m.model
	if req.Model != "" {
		model = req.Model
	}
	who := "openai/" + model
	params, err := m.params(model, req)
	if err != nil {
		return ports.ChatResult{}, err
	}
	res := ports.ChatResult{Provider: "openai", Model: model}
	var text strings.Builder
	stream := openStream[*chatChunk](func(raw **http.Response) error {
		// The SDK encodes params before it sends the request.
		defer releaseParams(params)
		return m.client.Post(ctx, "chat/completions", params, raw, streamOption)
	})
	defer stream.Close()
	finished := false
	for stream.Next() {
		var read chatChunkRead
		if err := read.decode(stream.Current()); err != nil {
			return endOfStream(ctx, res, text.String(), err, finished, who, m.key)
		}
		if read.model != "" {
			res.Model = read.model
		}
		if u := read.usage; u.PromptTokens > 0 || u.CompletionTokens > 0 {
			res.Usage = domain.TokenUsage{Prompt: int(u.PromptTokens), Completion: int(u.CompletionTokens)}
		}
		for i := range read.choices {
			choice := &read.choices[i]
			if choice.Index != 0 {
				continue // n is 1; ignore anything else a server sends
			}
			if d := choice.delta.Content; d != "" {
				text.WriteString(d)
				if err := onDelta(d); err != nil {
					res.Text = text.String()
					return res, err
				}
			}
			if choice.FinishReason != "" {
				finished = true
			}
		}
	}
	return endOfStream(ctx, res, text.String(), stream.Err(), finished, who, m.key)
}

// chatChunk is what Focal reads of a chat-completions stream chunk. The
// SDK's ChatCompletionChunk decodes through a reflective decoder many
// frames deep, on the goroutine that then waits for the next token: that
// grew every waiting stream's stack to 64 KiB. This plain struct is read
// one object level at a time: encoding/json takes about 1 KiB of stack
// for each level of nested objects it decodes, and the chunk's content is
// three levels down (chunk, choice, delta), which took the stream's
// handler goroutine past 16 KiB on the role chunk and doubled its stack to
// 32 KiB for as long as the turn then waited (make bench measures idle
// streams; TestModelStreamsDecodeWithinAStreamingHandlersStack). The
// stream's decoding keeps choices and usage undecoded (rawJSON);
// chatChunkRead.decode reads them after it has returned.
type chatChunk struct {
	Model   string  `json:"model"`
	Choices rawJSON `json:"choices"`
	Usage   rawJSON `json:"usage"`
}

// chatChunkRead is a chunk's model, choices and usage, decoded.
type chatChunkRead struct {
	model   string
	choices []chatChunkChoice
	usage   struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	}
}

type chatChunkChoice struct {
	Index        int64   `json:"index"`
	Delta        rawJSON `json:"delta"`
	FinishReason string  `json:"finish_reason"`
	delta        struct {
		Content string `json:"content"`
	}
}

// decode reads c's choices, their deltas and its usage, each a call of its
// own to encoding/json, which finds the same values and the same type
// errors as one call on the whole chunk: an error discards the chunk, as
// the stream's own decoding does. c is emptied (nil is a "null" event):
// the stream keeps its last chunk while it waits for the next, and the
// chunk's undecoded parts hold the event's data (make bench, idle streams:
// the role chunk a server sends before the first token, 256 B a stream).
func (r *chatChunkRead) decode(c *chatChunk) error {
	if c == nil {
		return nil
	}
	defer func() { *c = chatChunk{} }()
	r.model = c.Model
	if err := c.Usage.decode(&r.usage); err != nil {
		return err
	}
	if err := c.Choices.decode(&r.choices); err != nil {
		return err
	}
	for i := range r.choices {
		if err := r.choices[i].Delta.decode(&r.choices[i].delta); err != nil {
			return err
		}
	}
	return nil
}

// rawJSON is a JSON value left undecoded by the decoding of the object
// holding it. It aliases the decoded data (an event's data, which stays
// the same until the stream's next event) and is decoded before that.
type rawJSON []byte

// UnmarshalJSON keeps data as it is.
func (r *rawJSON) UnmarshalJSON(data []byte) error {
	*r = data
	return nil
}

// decode decodes the value into v; nothing when the value was absent or
// null, which decodes to nothing (a chunk's usage is null but in the
// last): a decoding's state would be garbage made while a stream opens.
func (r rawJSON) decode(v any) error {
	if r == nil || string(r) == "null" {
		return nil
	}
	return json.Unmarshal(r, v)
}

// paramsPool keeps requests' parameters (1.2 KiB) from one stream's
// opening to the next. A stream's parameters are garbage once its request
// is encoded, and garbage made while streams open is left in the heap's
// spans beside the small objects they keep while they wait (make bench,
// idle streams: 36 KiB of heap in use per waiting stream, of which a heap
// profile finds about 24 KiB live).
var paramsPool = sync.Pool{New: func() any { return new(openai.ChatCompletionNewParams) }}

// streamOption asks for a stream; made once, not on every request.
var streamOption = option.WithJSONSet("stream", true)

// releaseParams returns p to paramsPool, emptied: it keeps no message, and
// its messages' array is reused.
func releaseParams(p *openai.ChatCompletionNewParams) {
	msgs := p.Messages
	clear(msgs)
	*p = openai.ChatCompletionNewParams{}
	p.Messages = msgs[:0]
	paramsPool.Put(p)
}

// params are the request's parameters, from paramsPool: release them once
// the request is encoded (params releases them itself when it fails). On
// the heap: a local copy would sit in StreamChat's frame on the stack the
// turn then waits on for tokens, growing it a size class (make bench
// measures idle streams). Nor is releaseParams called in StreamChat: its
// zeroing, inlined there, took room in that frame too (under -race
// TestModelStreamsDecodeWithinAStreamingHandlersStack failed).
func (m *OpenAI) params(model string, req ports.ChatRequest) (*openai.ChatCompletionNewParams, error) {
	p := paramsPool.Get().(*openai.ChatCompletionNewParams)
	p.Model = model
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	for _, msg := range req.Messages {
		switch msg.Role {
		case ports.RoleSystem:
			p.Messages = append(p.Messages, openai.SystemMessage(msg.Content))
		case ports.RoleUser:
			p.Messages = append(p.Messages, openai.UserMessage(msg.Content))
		case ports.RoleAssistant:
			p.Messages = append(p.Messages, openai.AssistantMessage(msg.Content))
		default:
			releaseParams(p)
			return nil, domain.Errorf(domain.CodeInternal, "chat message role %q is not supported", msg.Role)
		}
	}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	if req.MaxTokens > 0 {
		if m.completionTokens {
			p.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
		} else {
			p.MaxTokens = openai.Int(int64(req.MaxTokens))
		}
	}
	if req.JSON {
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
	}
	return p, nil
}
