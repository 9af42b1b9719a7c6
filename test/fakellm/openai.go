package fakellm

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

type oaUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type oaMessage struct {
	Role        string  `json:"role"`
	Content     string  `json:"content"`
	Refusal     *string `json:"refusal"`
	Annotations []any   `json:"annotations"`
}

type oaChoice struct {
	Index        int       `json:"index"`
	Message      oaMessage `json:"message"`
	Logprobs     any       `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type oaCompletion struct {
	ID                string     `json:"id"`
	Object            string     `json:"object"`
	Created           int64      `json:"created"`
	Model             string     `json:"model"`
	Choices           []oaChoice `json:"choices"`
	Usage             *oaUsage   `json:"usage,omitempty"`
	ServiceTier       string     `json:"service_tier"`
	SystemFingerprint *string    `json:"system_fingerprint"`
}

type oaDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type oaChunkChoice struct {
	Index        int     `json:"index"`
	Delta        oaDelta `json:"delta"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type oaChunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	ServiceTier       string          `json:"service_tier"`
	SystemFingerprint *string         `json:"system_fingerprint"`
	Choices           []oaChunkChoice `json:"choices"`
	// Usage is "null" on every chunk but the last when include_usage is set,
	// as the API does, and absent otherwise.
	Usage json.RawMessage `json:"usage,omitempty"`
}

func (s *Server) serveOpenAIChat(ctx context.Context, w http.ResponseWriter, rec *record, reply Reply) {
	req := rec.req
	id := fmt.Sprintf("chatcmpl-fake%06d", s.nextID())
	text := reply.content()
	usage := oaUsage{PromptTokens: req.PromptTokens(), CompletionTokens: CountTokens(text)}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	if !req.Stream {
		s.plain(ctx, w, rec, reply, false, len(reply.deltas()), func() any {
			c := oaCompletion{
				ID: id, Object: "chat.completion", Created: time.Now().Unix(), Model: req.Model,
				ServiceTier: "default",
				Choices: []oaChoice{{
					Message:      oaMessage{Role: "assistant", Content: text, Annotations: []any{}},
					FinishReason: reply.finishReason(false),
				}},
			}
			if !reply.OmitUsage {
				c.Usage = &usage
			}
			return c
		})
		return
	}
	f := &openAIStream{
		base: oaChunk{
			ID: id, Object: "chat.completion.chunk", Created: time.Now().Unix(),
			Model: req.Model, ServiceTier: "default",
		},
		includeUsage: req.IncludeUsage,
		omitUsage:    reply.OmitUsage,
		usage:        usage,
		finishReason: reply.finishReason(false),
	}
	if f.includeUsage {
		f.base.Usage = json.RawMessage("null")
	}
	s.runStream(ctx, w, rec, reply, newSSE(w, "X-Request-Id", "req_"+id), f)
}

// openAIStream renders chat.completion.chunk events.
type openAIStream struct {
	base         oaChunk
	includeUsage bool
	omitUsage    bool
	usage        oaUsage
	finishReason string
}

func (o *openAIStream) send(sw *sseWriter, choices []oaChunkChoice, usage json.RawMessage) {
	c := o.base
	c.Choices = choices
	if usage != nil {
		c.Usage = usage
	}
	data, _ := json.Marshal(c)
	sw.event("", data)
}

func (o *openAIStream) start(sw *sseWriter) {
	empty := ""
	o.send(sw, []oaChunkChoice{{Delta: oaDelta{Role: "assistant", Content: &empty}}}, nil)
}

func (o *openAIStream) delta(sw *sseWriter, text string) {
	o.send(sw, []oaChunkChoice{{Delta: oaDelta{Content: &text}}}, nil)
}

func (o *openAIStream) malformed(sw *sseWriter) {
	sw.event("", []byte(`{"id":"`+o.base.ID+`","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"`))
}

func (o *openAIStream) fail(sw *sseWriter, reply Reply) {
	data, _ := json.Marshal(openAIError(http.StatusInternalServerError, reply))
	sw.event("", data)
}

func (o *openAIStream) finish(sw *sseWriter) {
	reason := o.finishReason
	o.send(sw, []oaChunkChoice{{FinishReason: &reason}}, nil)
	if o.includeUsage && !o.omitUsage {
		usage, _ := json.Marshal(o.usage)
		o.send(sw, []oaChunkChoice{}, usage)
	}
	sw.event("", []byte("[DONE]"))
}

type oaErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// openAIError builds {"error":{message,type,param,code}} with the type and
// code the API uses for status.
func openAIError(status int, reply Reply) map[string]oaErrorBody {
	typ, code, msg := "invalid_request_error", "", http.StatusText(status)
	switch {
	case status == http.StatusUnauthorized:
		code, msg = "invalid_api_key", "Incorrect API key provided."
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status == http.StatusNotFound:
		code = "not_found"
	case status == http.StatusTooManyRequests:
		typ, code, msg = "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."
	case status >= 500:
		typ, msg = "server_error", "The server had an error while processing your request. Sorry about that!"
	}
	if reply.ErrorType != "" {
		typ = reply.ErrorType
	}
	if reply.ErrorMessage != "" {
		msg = reply.ErrorMessage
	}
	body := oaErrorBody{Message: msg, Type: typ}
	if code != "" {
		body.Code = &code
	}
	return map[string]oaErrorBody{"error": body}
}

type oaEmbedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// embeddings answers POST /v1/embeddings with Embed vectors, as floats or
// as base64 little-endian float32 when encoding_format asks for it.
func (s *Server) embeddings(req Request, wire wireBody) any {
	dim := wire.Dimensions
	if dim <= 0 {
		dim = s.embedDim
	}
	data := make([]oaEmbedding, len(req.Input))
	for i, in := range req.Input {
		var vec any = Embed(in, dim)
		if wire.EncodingFormat == "base64" {
			buf := make([]byte, 4*dim)
			for j, x := range vec.([]float64) {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(x)))
			}
			vec = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = oaEmbedding{Object: "embedding", Index: i, Embedding: vec}
	}
	tokens := req.PromptTokens()
	return oaEmbeddingList{Object: "list", Data: data, Model: req.Model, Usage: oaEmbeddingUsage{tokens, tokens}}
}

type oaEmbeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type oaEmbeddingList struct {
	Object string           `json:"object"`
	Data   []oaEmbedding    `json:"data"`
	Model  string           `json:"model"`
	Usage  oaEmbeddingUsage `json:"usage"`
}
