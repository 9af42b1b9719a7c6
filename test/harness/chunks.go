package harness

import (
	"encoding/json"
	"regexp"
	"testing"
)

// completionsPath is the OpenAI-compatible chat route, whose stream
// follows OpenAI's chunk grammar instead of Focal's events.
const completionsPath = "/v1/chat/completions"

// chunkSchemaName is the component name under which a completion stream
// line's schema ("chunk" or "error") is loaded for validation.
func chunkSchemaName(kind string) string { return "CompletionEvent." + kind }

var completionID = regexp.MustCompile(`^chatcmpl-[0-9a-f-]{36}$`)

// completionChunk is what the grammar check reads of a chunk.
type completionChunk struct {
	ID      string `json:"id"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
}

// checkChunks holds a completion stream to OpenAI's grammar as the
// document describes it: data lines only; a role chunk, content chunks,
// one finish chunk, the usage chunk exactly when the request asked for it
// (with "usage": null on every chunk before it, and no usage key
// otherwise), then [DONE]; or, after the role chunk, one error line and
// the end. Every chunk has the same id, created and model (the request's).
func (c *apiContract) checkChunks(t testing.TB, x *exchange) {
	t.Helper()
	events, err := parseSSE(x.body, x.partial)
	if err != nil {
		t.Errorf("openapi: %s: %v\nbody: %.2000s", x, err, x.body)
		return
	}
	var req struct {
		Model         string `json:"model"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	_ = json.Unmarshal(x.reqBody, &req)
	k := &chunkCheck{c: c, t: t, x: x, model: req.Model, includeUsage: req.StreamOptions.IncludeUsage}
	for i, ev := range events {
		if !k.line(i+1, ev) {
			return
		}
	}
	if k.state != ended && !x.partial {
		k.fail("the stream ends without [DONE] or an error")
	}
}

// chunkState is what a completion stream may send next.
type chunkState int

const (
	wantRole chunkState = iota
	wantContent
	wantUsage
	wantDone
	ended
)

// chunkCheck walks one completion stream.
type chunkCheck struct {
	c            *apiContract
	t            testing.TB
	x            *exchange
	model        string
	includeUsage bool
	state        chunkState
	first        *completionChunk
}

func (k *chunkCheck) fail(format string, args ...any) {
	k.t.Helper()
	k.t.Errorf("openapi: %s: "+format+"\nbody: %.2000s", append(append([]any{k.x}, args...), k.x.body)...)
}

// line checks line n; false when the rest cannot be read.
func (k *chunkCheck) line(n int, ev sseEvent) bool {
	if ev.id != "" || ev.name != "" {
		k.fail("line %d has an id or event name; OpenAI's stream has data lines only", n)
	}
	if k.state == ended {
		k.fail("line %d comes after the end of the stream", n)
		return false
	}
	if ev.data == "[DONE]" {
		if k.state != wantDone {
			k.fail("[DONE] at line %d comes before the finish chunk (or the usage chunk that was asked for)", n)
		}
		k.state = ended
		return true
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal([]byte(ev.data), &probe); err != nil {
		k.fail("line %d is not JSON: %v", n, err)
		return false
	}
	if _, isError := probe["error"]; isError {
		k.c.checkJSON(k.t, k.x, chunkSchemaName("error"), []byte(ev.data))
		if k.state == wantRole {
			k.fail("the error at line %d comes before the role chunk", n)
		}
		k.state = ended
		return true
	}
	k.chunk(n, ev.data, probe)
	return true
}

// chunk checks the chunk on line n.
func (k *chunkCheck) chunk(n int, data string, probe map[string]json.RawMessage) {
	k.c.checkJSON(k.t, k.x, chunkSchemaName("chunk"), []byte(data))
	var ch completionChunk
	_ = json.Unmarshal([]byte(data), &ch)
	if k.first == nil {
		k.first = &ch
		if !completionID.MatchString(ch.ID) || ch.Model != k.model {
			k.fail("the first chunk has id %q and model %q; want chatcmpl-<turn_id> and the request's model %q", ch.ID, ch.Model, k.model)
		}
	} else if ch.ID != k.first.ID || ch.Created != k.first.Created || ch.Model != k.first.Model {
		k.fail("line %d changes the chunk's id, created or model", n)
	}
	_, hasUsage := probe["usage"]
	last := len(ch.Choices) == 0
	switch {
	case !k.includeUsage && hasUsage:
		k.fail("line %d has a usage key, which the request did not ask for", n)
	case k.includeUsage && !last && string(ch.Usage) != "null":
		k.fail("line %d has usage %s before the usage chunk; want null", n, ch.Usage)
	}
	k.advance(n, &ch)
}

// advance moves the walk past chunk ch on line n.
func (k *chunkCheck) advance(n int, ch *completionChunk) {
	last := len(ch.Choices) == 0
	switch k.state {
	case wantRole:
		if last || ch.Choices[0].Delta.Role == nil || *ch.Choices[0].Delta.Role != "assistant" {
			k.fail("the first chunk does not name the assistant role")
		}
		k.state = wantContent
	case wantContent:
		k.content(n, ch)
	case wantUsage:
		if !last || string(ch.Usage) == "null" || len(ch.Usage) == 0 {
			k.fail("line %d should be the usage chunk (no choices, the usage)", n)
		}
		k.state = wantDone
	default:
		k.fail("line %d: a chunk after the finish chunk", n)
	}
}

// content checks a chunk after the role chunk: content, or the finish.
func (k *chunkCheck) content(n int, ch *completionChunk) {
	switch {
	case len(ch.Choices) == 0:
		k.fail("line %d: a chunk without choices before the finish chunk", n)
	case ch.Choices[0].FinishReason != nil:
		if ch.Choices[0].Delta.Content != nil || ch.Choices[0].Delta.Role != nil {
			k.fail("the finish chunk at line %d has a delta", n)
		}
		k.state = wantDone
		if k.includeUsage {
			k.state = wantUsage
		}
	case ch.Choices[0].Delta.Content == nil || ch.Choices[0].Delta.Role != nil:
		k.fail("line %d is neither a content chunk nor the finish chunk", n)
	}
}
