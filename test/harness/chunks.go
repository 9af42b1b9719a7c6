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
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("openapi: %s: "+format+"\nbody: %.2000s", append(append([]any{x}, args...), x.body)...)
	}
	const (
		wantRole = iota
		wantContent
		wantUsage
		wantDone
		ended
	)
	state := wantRole
	var first *completionChunk
	for i, ev := range events {
		if ev.id != "" || ev.name != "" {
			fail("line %d has an id or event name; OpenAI's stream has data lines only", i+1)
		}
		if state == ended {
			fail("line %d comes after the end of the stream", i+1)
			return
		}
		if ev.data == "[DONE]" {
			if state != wantDone {
				fail("[DONE] at line %d comes before the finish chunk (or the usage chunk that was asked for)", i+1)
			}
			state = ended
			continue
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal([]byte(ev.data), &probe); err != nil {
			fail("line %d is not JSON: %v", i+1, err)
			return
		}
		if _, isError := probe["error"]; isError {
			c.checkJSON(t, x, chunkSchemaName("error"), []byte(ev.data))
			if state == wantRole {
				fail("the error at line %d comes before the role chunk", i+1)
			}
			state = ended
			continue
		}
		c.checkJSON(t, x, chunkSchemaName("chunk"), []byte(ev.data))
		var ch completionChunk
		_ = json.Unmarshal([]byte(ev.data), &ch)
		if first == nil {
			first = &ch
			if !completionID.MatchString(ch.ID) || ch.Model != req.Model {
				fail("the first chunk has id %q and model %q; want chatcmpl-<turn_id> and the request's model %q", ch.ID, ch.Model, req.Model)
			}
		} else if ch.ID != first.ID || ch.Created != first.Created || ch.Model != first.Model {
			fail("line %d changes the chunk's id, created or model", i+1)
		}
		_, hasUsage := probe["usage"]
		last := len(ch.Choices) == 0
		switch {
		case !req.StreamOptions.IncludeUsage && hasUsage:
			fail("line %d has a usage key, which the request did not ask for", i+1)
		case req.StreamOptions.IncludeUsage && !last && string(ch.Usage) != "null":
			fail("line %d has usage %s before the usage chunk; want null", i+1, ch.Usage)
		}
		switch state {
		case wantRole:
			if last || ch.Choices[0].Delta.Role == nil || *ch.Choices[0].Delta.Role != "assistant" {
				fail("the first chunk does not name the assistant role")
			}
			state = wantContent
		case wantContent:
			switch {
			case last:
				fail("line %d: a chunk without choices before the finish chunk", i+1)
			case ch.Choices[0].FinishReason != nil:
				if ch.Choices[0].Delta.Content != nil || ch.Choices[0].Delta.Role != nil {
					fail("the finish chunk at line %d has a delta", i+1)
				}
				state = wantDone
				if req.StreamOptions.IncludeUsage {
					state = wantUsage
				}
			case ch.Choices[0].Delta.Content == nil || ch.Choices[0].Delta.Role != nil:
				fail("line %d is neither a content chunk nor the finish chunk", i+1)
			}
		case wantUsage:
			if !last || string(ch.Usage) == "null" || len(ch.Usage) == 0 {
				fail("line %d should be the usage chunk (no choices, the usage)", i+1)
			}
			state = wantDone
		default:
			fail("line %d: a chunk after the finish chunk", i+1)
		}
	}
	if state != ended && !x.partial {
		fail("the stream ends without [DONE] or an error")
	}
}
