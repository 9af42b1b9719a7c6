package httpapi

import (
	"encoding/json"
	"errors"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/application"
	"focal/domain"
)

// streamFormatOpenAI marks a stored stream result as OpenAI chunks.
const streamFormatOpenAI = "openai"

// completionChunk is OpenAI's chat.completion.chunk object.
type completionChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	// Usage is null on every chunk but the last when the client asked for
	// usage (stream_options.include_usage), and absent otherwise.
	Usage json.RawMessage `json:"usage,omitempty"`
	// Focal is Focal's view of the turn, on the chunk that finishes it.
	Focal *completionTurn `json:"focal,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// chunker writes one completion as OpenAI's stream: a chunk naming the
// role, one chunk per released delta, a chunk with the finish reason, the
// usage chunk when asked for, then [DONE]. A failure after the stream
// started is one data line holding an error object, and the end.
type chunker struct {
	s            *sseStream
	id, model    string
	created      int64
	includeUsage bool
}

var nullUsage = json.RawMessage("null")

// frame writes data as one event the way OpenAI's API does: "data: "
// with a space, which clients that split lines on that prefix rely on
// (gin-contrib/sse writes no space).
func (k *chunker) frame(data []byte, last bool) error {
	out := make([]byte, 0, len(data)+8)
	out = append(out, "data: "...)
	out = append(out, data...)
	out = append(out, "\n\n"...)
	return k.s.writeFrame(out, last)
}

func (k *chunker) send(choices []chunkChoice, usage json.RawMessage, turn *completionTurn) error {
	ch := completionChunk{ID: k.id, Object: "chat.completion.chunk", Created: k.created, Model: k.model, Choices: choices, Focal: turn}
	if k.includeUsage {
		ch.Usage = nullUsage
		if usage != nil {
			ch.Usage = usage
		}
	}
	raw, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	return k.frame(raw, false)
}

func (k *chunker) begin() error {
	empty := ""
	return k.send([]chunkChoice{{Delta: chunkDelta{Role: "assistant", Content: &empty}}}, nil, nil)
}

func (k *chunker) content(delta string) error {
	if delta == "" {
		return nil
	}
	return k.send([]chunkChoice{{Delta: chunkDelta{Content: &delta}}}, nil, nil)
}

// end finishes the stream with the turn's usage.
func (k *chunker) end(usage completionUsage, turn completionTurn) error {
	stop := "stop"
	if err := k.send([]chunkChoice{{FinishReason: &stop}}, nil, &turn); err != nil {
		return err
	}
	if k.includeUsage {
		raw, err := json.Marshal(usage)
		if err != nil {
			return err
		}
		if err := k.send([]chunkChoice{}, raw, nil); err != nil {
			return err
		}
	}
	return k.frame([]byte("[DONE]"), true)
}

// fail ends the stream with an error object, as OpenAI's API does.
func (k *chunker) fail(c *gin.Context, err error) {
	status, payload, _ := errorPayload(c, err)
	if status >= 500 {
		logctx.From(c.Request.Context(), zap.NewNop()).Error("stream failed", zap.String("code", string(payload.Code)), zap.Error(err))
	}
	raw, mErr := json.Marshal(openAIErrorBody(status, payload))
	if mErr == nil {
		_ = k.frame(raw, true)
	}
}

// writeFrame writes bytes already framed as events and flushes them; last
// ends the stream.
func (s *sseStream) writeFrame(frame []byte, last bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("stream already ended")
	}
	if err := s.write(frame); err != nil {
		return err
	}
	s.closed = last
	return nil
}

// stream runs a prepared turn and answers with chunks as the reply is
// released.
func (h *OpenAIRoutes) stream(c *gin.Context, req *completionRequest, turn *application.PreparedTurn, created int64) {
	k := &chunker{s: startStream(c, turn.TurnID()), id: completionID(turn.TurnID()), model: req.Model, created: completionCreated(turn.TurnID(), created),
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	ctx := k.s.ctx
	if h.streams != nil {
		h.streams.StreamOpened()
		defer h.streams.StreamClosed()
	}
	h.beats.start(k.s)
	defer h.beats.stop(k.s)
	if err := k.begin(); err != nil {
		turn.Abort(ctx)
		return
	}
	res, err := turn.Run(ctx, k.content)
	if err != nil {
		c.Set(keyHandled, unknownTurn(err))
		if tell, err := toTell(ctx, err); tell {
			k.fail(c, err)
		}
		return
	}
	answered := handled{turnID: res.TurnID}
	if k.end(usageOf(res), turnOf(res)) == nil {
		answered.completion = &storedCompletion{Completion: newCompletion(req.Model, created, res), IncludeUsage: k.includeUsage}
	}
	c.Set(keyHandled, answered)
}

// storedCompletion is what the idempotency layer keeps of a finished
// completion stream, to answer a retry with the same stream.
type storedCompletion struct {
	Completion   completion `json:"completion"`
	IncludeUsage bool       `json:"include_usage"`
}

// replayCompletionStream answers a retry of a finished completion stream:
// the whole reply as one content chunk, then the same ending.
func replayCompletionStream(c *gin.Context, body []byte) {
	var st storedCompletion
	if err := json.Unmarshal(body, &st); err != nil || len(st.Completion.Choices) != 1 {
		writeError(c, domain.WrapError(domain.CodeInternal, err, "stored stream answer is unreadable"))
		return
	}
	done := st.Completion
	k := &chunker{s: startStream(c, done.Focal.TurnID), id: done.ID, model: done.Model, created: done.Created, includeUsage: st.IncludeUsage}
	if k.begin() == nil && k.content(done.Choices[0].Message.Content) == nil {
		_ = k.end(done.Usage, done.Focal)
	}
}
