package fakellm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// wireBody is the union of request fields the fake reads from either API.
type wireBody struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	System         json.RawMessage `json:"system"`
	Input          json.RawMessage `json:"input"`
	Dimensions     int             `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

func route(r *http.Request) (API, string) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	var api API
	switch path {
	case "/v1/chat/completions", "/chat/completions":
		api = APIOpenAIChat
	case "/v1/embeddings", "/embeddings":
		api = APIOpenAIEmbeddings
	case "/v1/messages":
		api = APIAnthropicMessages
	case "/v1/messages/count_tokens":
		api = APIAnthropicCount
	case "/healthz":
		return APIHealth, http.MethodGet
	default:
		return APIUnknown, ""
	}
	return api, http.MethodPost
}

// ServeHTTP records the request, then answers it in its provider's format.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	api, method := route(r)
	// Reading the whole body first also lets net/http notice a client hang-up
	// and cancel the request context while we are writing.
	raw, _ := io.ReadAll(r.Body)
	req := Request{
		API: api, Method: r.Method, Path: r.URL.Path,
		Header: r.Header.Clone(), RawBody: raw, Start: start,
	}
	var wire wireBody
	bodyErr := decodeBody(raw, &req, &wire)
	if req.Model == "" {
		req.Model = s.model
	}
	answer := s.atOnce(r, method, req, bodyErr)
	chat := api == APIOpenAIChat || api == APIAnthropicMessages
	rec, taken := s.addRecord(req, answer != nil, chat)

	ctx := r.Context()
	stop := context.AfterFunc(ctx, func() { s.markCancelled(rec, time.Now()) })
	defer func() {
		stop()
		s.markFinished(rec, ctx.Err())
	}()

	if answer != nil {
		answer(w)
		return
	}
	anth := api == APIAnthropicMessages || api == APIAnthropicCount
	reply := resolve(rec.req, taken, chat) // rec.req is immutable once recorded
	if !s.prelude(ctx, w, reply, anth) {
		return
	}
	switch api {
	case APIOpenAIChat:
		s.serveOpenAIChat(ctx, w, rec, reply)
	case APIAnthropicMessages:
		s.serveAnthropic(ctx, w, rec, reply)
	case APIOpenAIEmbeddings:
		s.plain(ctx, w, rec, reply, false, 0, func() any { return s.embeddings(rec.req, wire) })
	case APIAnthropicCount:
		s.plain(ctx, w, rec, reply, true, 0, func() any {
			return map[string]int{"input_tokens": rec.req.PromptTokens()}
		})
	}
}

// atOnce returns the answer to a request no reply script applies to: an
// unknown route, a wrong method, the health probe or an unreadable body;
// nil for the rest, which take a reply.
func (s *Server) atOnce(r *http.Request, method string, req Request, bodyErr error) func(http.ResponseWriter) {
	api := req.API
	anth := api == APIAnthropicMessages || api == APIAnthropicCount
	refuse := func(anth bool, status int, msg string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) { s.writeError(w, anth, status, Reply{ErrorMessage: msg}) }
	}
	switch {
	case api == APIUnknown:
		return refuse(false, http.StatusNotFound, "Unknown request URL: "+r.Method+" "+r.URL.Path)
	case r.Method != method:
		return refuse(anth, http.StatusMethodNotAllowed, "method not allowed: "+r.Method)
	case api == APIHealth:
		return func(w http.ResponseWriter) { _, _ = io.WriteString(w, "ok\n") }
	case bodyErr != nil:
		return refuse(anth, http.StatusBadRequest, "could not parse the JSON body of your request: "+bodyErr.Error())
	case (api == APIOpenAIChat || anth) && len(req.Messages) == 0:
		return refuse(anth, http.StatusBadRequest, "messages: at least one message is required")
	}
	return nil
}

// decodeBody fills req from a JSON body; an empty body is not an error so
// that GETs and probes are recorded too.
func decodeBody(raw []byte, req *Request, wire *wireBody) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, &req.Body); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, wire); err != nil {
		return err
	}
	req.Model, req.Stream = wire.Model, wire.Stream
	req.IncludeUsage = wire.StreamOptions != nil && wire.StreamOptions.IncludeUsage
	var system []string
	if s := flatten(wire.System); s != "" {
		system = append(system, s)
	}
	for _, m := range wire.Messages {
		msg := Message{Role: m.Role, Content: flatten(m.Content)}
		req.Messages = append(req.Messages, msg)
		if m.Role == "system" || m.Role == "developer" {
			system = append(system, msg.Content)
		}
	}
	req.System = strings.Join(system, "\n")
	req.Input = inputs(wire.Input)
	return nil
}

// flatten turns a string or an array of content parts into plain text,
// joining text parts with newlines and skipping non-text parts.
func flatten(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var out []string
	for _, p := range parts {
		switch {
		case p.Type == "text":
			out = append(out, p.Text)
		case p.Type == "tool_result" && len(p.Content) > 0:
			out = append(out, flatten(p.Content))
		}
	}
	return strings.Join(out, "\n")
}

// inputs decodes an embeddings input: a string, strings, or token arrays
// (which become space-joined numbers so they still count as tokens).
func inputs(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) != nil {
		return nil
	}
	var out, tokens []string
	for _, m := range many {
		var s string
		var toks []int
		switch {
		case json.Unmarshal(m, &s) == nil:
			out = append(out, s)
		case json.Unmarshal(m, &toks) == nil:
			out = append(out, strings.Trim(fmt.Sprint(toks), "[]"))
		default:
			tokens = append(tokens, string(m))
		}
	}
	if len(tokens) > 0 {
		out = append(out, strings.Join(tokens, " "))
	}
	return out
}

// prelude applies the header delay and error status shared by every
// endpoint; false means the response is complete.
func (s *Server) prelude(ctx context.Context, w http.ResponseWriter, reply Reply, anth bool) bool {
	if !s.sleep(ctx, reply.HeaderDelay) {
		return false
	}
	if reply.RetryAfter > 0 {
		secs := int(math.Ceil(reply.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(reply.RetryAfter.Milliseconds(), 10))
	}
	if reply.Status >= 400 {
		s.writeError(w, anth, reply.Status, reply)
		return false
	}
	return true
}

// plain serves a non-streaming JSON body, applying position faults to the
// response as a whole and simulating the generation time of n deltas (none
// for n == 0, so embeddings ignore token timing).
func (s *Server) plain(ctx context.Context, w http.ResponseWriter, rec *record, reply Reply, anth bool, n int, body func() any) {
	if reply.StallAfter != 0 && !s.stall(ctx, rec, reply) {
		return
	}
	var gen time.Duration
	if n > 0 {
		gen = reply.FirstTokenDelay + time.Duration(n-1)*reply.TokenInterval
	}
	if !s.sleep(ctx, gen) {
		return
	}
	if reply.ErrorAfter != 0 {
		s.writeError(w, anth, midStreamStatus(anth), reply)
		return
	}
	data, _ := json.Marshal(body())
	if reply.MalformedAfter == 0 && reply.DisconnectAfter == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(requestIDHeader(anth), fmt.Sprintf("req_fake%06d", s.nextID()))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
		return
	}
	// A half body is invalid JSON either way; only how it ends differs.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data[:len(data)/2])
	if reply.DisconnectAfter != 0 {
		s.disconnect(w, rec)
	}
}

func requestIDHeader(anth bool) string {
	if anth {
		return "Request-Id"
	}
	return "X-Request-Id"
}

func midStreamStatus(anth bool) int {
	if anth {
		return 529
	}
	return http.StatusInternalServerError
}

// writeError writes a provider-shaped error body with the given status.
func (s *Server) writeError(w http.ResponseWriter, anth bool, status int, reply Reply) {
	id := fmt.Sprintf("req_fake%06d", s.nextID())
	var body any
	if anth {
		body = anthropicError(status, reply, id)
	} else {
		body = openAIError(status, reply)
	}
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(requestIDHeader(anth), id)
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// sleep waits d unless the client leaves or the server closes first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// stall blocks for StallFor, until StallUntil is closed, or until the
// client or server gives up when neither is set; false means the response
// must be abandoned. While it blocks, the record says so (WaitStalled).
func (s *Server) stall(ctx context.Context, rec *record, reply Reply) bool {
	s.markStalled(rec, true)
	defer s.markStalled(rec, false)
	if reply.StallFor > 0 {
		return s.sleep(ctx, reply.StallFor)
	}
	select {
	case <-reply.StallUntil: // never, when nil
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// disconnect drops the TCP connection without finishing the response, the
// way a crashed upstream or a cut proxy would.
func (s *Server) disconnect(w http.ResponseWriter, rec *record) {
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	conn, buf, err := rc.Hijack()
	if err != nil {
		// HTTP/2 cannot be hijacked; aborting the handler resets the stream.
		panic(http.ErrAbortHandler)
	}
	s.markHijacked(rec)
	_ = buf.Flush()
	_ = conn.Close()
}
