package fakellm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

type anUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

type anText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anMessage struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Role         string   `json:"role"`
	Model        string   `json:"model"`
	Content      []anText `json:"content"`
	StopReason   *string  `json:"stop_reason"`
	StopSequence *string  `json:"stop_sequence"`
	Usage        *anUsage `json:"usage,omitempty"`
}

func (s *Server) serveAnthropic(ctx context.Context, w http.ResponseWriter, rec *record, reply Reply) {
	req := rec.req
	id := fmt.Sprintf("msg_fake%06d", s.nextID())
	text := reply.content()
	stop := reply.finishReason(true)
	usage := anUsage{InputTokens: req.PromptTokens(), OutputTokens: CountTokens(text)}
	if !req.Stream {
		s.plain(ctx, w, rec, reply, true, len(reply.deltas()), func() any {
			m := anMessage{
				ID: id, Type: "message", Role: "assistant", Model: req.Model,
				Content:    []anText{{Type: "text", Text: text}},
				StopReason: &stop,
			}
			if !reply.OmitUsage {
				m.Usage = &usage
			}
			return m
		})
		return
	}
	f := &anthropicStream{
		start0: anMessage{
			ID: id, Type: "message", Role: "assistant", Model: req.Model,
			Content: []anText{},
		},
		stop:      stop,
		usage:     usage,
		omitUsage: reply.OmitUsage,
	}
	s.runStream(ctx, w, rec, reply, newSSE(w, "Request-Id", "req_"+id), f)
}

// anthropicStream renders the messages event sequence: message_start,
// content_block_start, ping, content_block_delta…, content_block_stop,
// message_delta, message_stop.
type anthropicStream struct {
	start0    anMessage
	stop      string
	usage     anUsage
	omitUsage bool
}

// anEvent is every stream event's shape; fields are ordered as the API
// sends them, type first.
type anEvent struct {
	Type         string     `json:"type"`
	Message      *anMessage `json:"message,omitempty"`
	Index        *int       `json:"index,omitempty"`
	ContentBlock *anText    `json:"content_block,omitempty"`
	Delta        any        `json:"delta,omitempty"`
	Usage        any        `json:"usage,omitempty"`
}

type anStopDelta struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

var block0 = new(int)

func (a *anthropicStream) send(sw *sseWriter, ev anEvent) {
	data, _ := json.Marshal(ev)
	sw.event(ev.Type, data)
}

func (a *anthropicStream) start(sw *sseWriter) {
	msg := a.start0
	if !a.omitUsage {
		// Output tokens are reported cumulatively by message_delta.
		msg.Usage = &anUsage{InputTokens: a.usage.InputTokens}
	}
	a.send(sw, anEvent{Type: "message_start", Message: &msg})
	a.send(sw, anEvent{Type: "content_block_start", Index: block0, ContentBlock: &anText{Type: "text", Text: ""}})
	a.send(sw, anEvent{Type: "ping"})
}

func (a *anthropicStream) delta(sw *sseWriter, text string) {
	a.send(sw, anEvent{Type: "content_block_delta", Index: block0, Delta: anText{Type: "text_delta", Text: text}})
}

func (a *anthropicStream) malformed(sw *sseWriter) {
	sw.event("content_block_delta", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`))
}

func (a *anthropicStream) fail(sw *sseWriter, reply Reply) {
	data, _ := json.Marshal(anthropicError(529, reply, ""))
	sw.event("error", data)
}

func (a *anthropicStream) finish(sw *sseWriter) {
	a.send(sw, anEvent{Type: "content_block_stop", Index: block0})
	md := anEvent{Type: "message_delta", Delta: anStopDelta{StopReason: a.stop}}
	if !a.omitUsage {
		md.Usage = map[string]int{"output_tokens": a.usage.OutputTokens}
	}
	a.send(sw, md)
	a.send(sw, anEvent{Type: "message_stop"})
}

// anthropicError builds {"type":"error","error":{type,message}} with the
// error type Anthropic documents for status.
func anthropicError(status int, reply Reply, requestID string) anErrorBody {
	typ, msg := "api_error", "Internal server error"
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		typ, msg = "invalid_request_error", "Invalid request"
	case http.StatusUnauthorized:
		typ, msg = "authentication_error", "invalid x-api-key"
	case http.StatusPaymentRequired:
		typ, msg = "billing_error", "Billing error"
	case http.StatusForbidden:
		typ, msg = "permission_error", "Your API key does not have permission to use the specified resource."
	case http.StatusNotFound:
		typ, msg = "not_found_error", "Not found"
	case http.StatusRequestEntityTooLarge:
		typ, msg = "request_too_large", "Request exceeds the maximum allowed number of bytes."
	case http.StatusTooManyRequests:
		typ, msg = "rate_limit_error", "Number of requests has exceeded your rate limit."
	case http.StatusGatewayTimeout:
		typ, msg = "timeout_error", "Request timed out"
	case 529:
		typ, msg = "overloaded_error", "Overloaded"
	}
	if reply.ErrorType != "" {
		typ = reply.ErrorType
	}
	if reply.ErrorMessage != "" {
		msg = reply.ErrorMessage
	}
	return anErrorBody{Type: "error", Error: anErrorDetail{Type: typ, Message: msg}, RequestID: requestID}
}

type anErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type anErrorBody struct {
	Type      string        `json:"type"`
	Error     anErrorDetail `json:"error"`
	RequestID string        `json:"request_id,omitempty"`
}
