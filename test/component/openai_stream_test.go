package component

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"focal/ports"
	"focal/test/fakellm"
	"focal/test/harness"
)

// completionBody is a streamed completion request for the plain agent.
func completionBody(user, message string, includeUsage bool) map[string]any {
	b := map[string]any{
		"model":    plainAgent,
		"user":     user,
		"stream":   true,
		"messages": []map[string]any{{"role": "user", "content": message}},
	}
	if includeUsage {
		b["stream_options"] = map[string]any{"include_usage": true}
	}
	return b
}

var firstChunk = regexp.MustCompile(`^data: \{"id":"chatcmpl-([0-9a-f-]{36})","object":"chat.completion.chunk","created":([0-9]+),`)

// The stream is OpenAI's chunk grammar to the byte: "data: " lines of
// chat.completion.chunk objects, each model delta in its own chunk, the
// finish chunk, the usage chunk that was asked for, then [DONE]. (The
// harness also checks it against the API document.)
func TestOpenAIStreamIsOpenAIsChunkFormatByteForByte(t *testing.T) {
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h"})
	token := harness.Token(t, harness.DemoTenant)

	fake.Enqueue(fakellm.Reply{Deltas: []string{"One, ", "two,\n", "\"three\""}})
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
		Body: completionBody("bytes-user", "Count to three", true)})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, "text/event-stream; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))

	m := firstChunk.FindSubmatch(res.Body)
	require.NotNil(t, m, "%s", res.Body)
	turnID, created := string(m[1]), string(m[2])
	var turn struct {
		SessionID string `json:"session_id"`
		Usage     struct {
			Prompt     int `json:"prompt_tokens"`
			Completion int `json:"completion_tokens"`
		} `json:"usage"`
	}
	tr := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + turnID, Token: token})
	require.Equal(t, http.StatusOK, tr.Status, "%s", tr.Body)
	tr.JSON(t, &turn)
	require.Positive(t, turn.Usage.Completion)

	head := fmt.Sprintf(`{"id":"chatcmpl-%s","object":"chat.completion.chunk","created":%s,"model":%q,`, turnID, created, plainAgent)
	line := func(rest string) string { return "data: " + head + rest + "\n\n" }
	want := line(`"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`) +
		line(`"choices":[{"index":0,"delta":{"content":"One, "},"logprobs":null,"finish_reason":null}],"usage":null}`) +
		line(`"choices":[{"index":0,"delta":{"content":"two,\n"},"logprobs":null,"finish_reason":null}],"usage":null}`) +
		line(`"choices":[{"index":0,"delta":{"content":"\"three\""},"logprobs":null,"finish_reason":null}],"usage":null}`) +
		line(fmt.Sprintf(`"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,`+
			`"focal":{"session_id":%q,"turn_id":%q,"scenario":null,"matched_rules":[],"tools_called":[]}}`, turn.SessionID, turnID)) +
		line(fmt.Sprintf(`"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			turn.Usage.Prompt, turn.Usage.Completion, turn.Usage.Prompt+turn.Usage.Completion)) +
		"data: [DONE]\n\n"
	assert.Equal(t, want, string(res.Body))

	// Without include_usage no chunk has a usage key at all.
	fake.Enqueue(fakellm.Reply{Deltas: []string{"Four."}})
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
		Body: completionBody("bytes-user", "And then?", false)})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.NotContains(t, string(res.Body), `"usage"`)
	assert.True(t, strings.HasSuffix(string(res.Body), "\n\ndata: [DONE]\n\n"), "%s", res.Body)
}

// A retry with the same Idempotency-Key replays the finished stream in the
// same format, from the stored answer, without running the turn again.
func TestOpenAIStreamIdempotentReplay(t *testing.T) {
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h"})
	token := harness.Token(t, harness.DemoTenant)
	req := harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
		Body: completionBody("retrying-user", "Say something", true), Headers: map[string]string{"Idempotency-Key": "completion-1"}}

	fake.Enqueue(fakellm.Reply{Deltas: []string{"Some", "thing."}})
	first := app.Do(t, req)
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	calls := len(fake.Requests())

	again := app.Do(t, req)
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Len(t, fake.Requests(), calls, "the model is not called again")
	id := firstChunk.FindSubmatch(first.Body)
	require.NotNil(t, id)
	assert.Equal(t, id, firstChunk.FindSubmatch(again.Body), "the same completion id and creation time")
	assert.Contains(t, string(again.Body), `"delta":{"content":"Something."}`, "the whole reply in one chunk")
	assert.Equal(t, lastLines(first.Body, 3), lastLines(again.Body, 3), "the same finish, usage and [DONE]")
}

// A completion stream answer kept in the idempotency store (as
// X-Focal-Stream-Format openai, the way a stored stream is kept) is
// replayed as a completion stream, with Idempotent-Replayed too.
func TestOpenAIStreamStoredReplay(t *testing.T) {
	var keys ports.IdempotencyStore
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h"}, fx.Populate(&keys))
	token := harness.Token(t, harness.DemoTenant)

	// A real completion object, for the stored answer.
	fake.Enqueue(fakellm.Reply{Text: "Kept."})
	plain := completionBody("storing-user", "Say something", false)
	plain["stream"] = false
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token, Body: plain})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	stored, err := json.Marshal(map[string]any{"completion": json.RawMessage(res.Body), "include_usage": false})
	require.NoError(t, err)

	req := harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
		Body: completionBody("storing-user", "And again", false), Headers: map[string]string{"Idempotency-Key": "completion-stored"}}
	fake.Enqueue(fakellm.Reply{Deltas: []string{"Some", "thing."}})
	first := app.Do(t, req)
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	ctx := context.Background()
	rec, err := keys.GetIdempotencyKey(ctx, harness.DemoTenant, "completion-stored")
	require.NoError(t, err)
	require.NotNil(t, rec)
	require.NoError(t, keys.CompleteIdempotencyKey(ctx, harness.DemoTenant, "completion-stored", rec.Owner, http.StatusOK,
		map[string]string{"Content-Type": "text/event-stream", "X-Focal-Stream-Format": "openai"}, stored, time.Now().Add(time.Hour)))
	calls := fake.Count()

	again := app.Do(t, req)
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.Contains(t, string(again.Body), `"delta":{"content":"Kept."}`, "the stored answer in one chunk")
	assert.True(t, strings.HasSuffix(string(again.Body), "\n\ndata: [DONE]\n\n"), "%s", again.Body)
	assert.Equal(t, calls, fake.Count(), "the model is not called again")
}

// lastLines is the last n data lines of a stream.
func lastLines(body []byte, n int) []string {
	lines := strings.Split(strings.TrimSpace(string(body)), "\n\n")
	return lines[max(0, len(lines)-n):]
}

// When the model fails after the stream began, the stream ends with
// OpenAI's error object and Focal's code, and no [DONE].
func TestOpenAIStreamEndsWithAnErrorObject(t *testing.T) {
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h"})
	token := harness.Token(t, harness.DemoTenant)

	fake.FailNext(1, fakellm.Reply{Status: http.StatusBadRequest})
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
		Body: completionBody("unlucky-user", "Hello", false)})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	lines := strings.Split(strings.TrimSuffix(string(res.Body), "\n\n"), "\n\n")
	require.Len(t, lines, 2, "the role chunk, then the error: %s", res.Body)
	assert.Contains(t, lines[0], `"delta":{"role":"assistant","content":""}`)
	var failure struct {
		Error struct {
			Type string  `json:"type"`
			Code string  `json:"code"`
			Msg  string  `json:"message"`
			Para *string `json:"param"`
		} `json:"error"`
	}
	require.True(t, strings.HasPrefix(lines[1], "data: "), lines[1])
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &failure))
	assert.Equal(t, "LLM_ERROR", failure.Error.Code)
	assert.Equal(t, "server_error", failure.Error.Type)
	assert.NotEmpty(t, failure.Error.Msg)
	assert.Nil(t, failure.Error.Para)
}

// Errors before the turn runs answer with their status and OpenAI's error
// body, from authentication on; every one is checked against the document.
func TestOpenAIErrorsHaveOpenAIsShape(t *testing.T) {
	app, _ := startOnFakeModel(t, map[string]string{"FOCAL_RATE_LIMIT_TENANTS": otherTenant + "=1"})
	token := harness.Token(t, harness.DemoTenant)
	// The other tenant has one request a window: its second is refused.
	limited := harness.Token(t, otherTenant)
	require.Equal(t, http.StatusOK, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/models", Token: limited}).Status)
	cases := []struct {
		name   string
		req    harness.Request
		status int
		code   string
		param  string
		// typ is OpenAI's error family for the status (openai_errors.go).
		typ string
	}{
		{"no token", harness.Request{Method: http.MethodGet, Path: "/v1/models"}, http.StatusUnauthorized, "UNAUTHENTICATED", "", "authentication_error"},
		{"bad JSON", harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token, Body: `{"model":`},
			http.StatusBadRequest, "INVALID_REQUEST", "", "invalid_request_error"},
		{"two choices", harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
			Body: map[string]any{"model": plainAgent, "user": "u", "n": 2, "messages": []map[string]any{{"role": "user", "content": "Hi"}}}},
			http.StatusBadRequest, "INVALID_REQUEST", "n", "invalid_request_error"},
		{"no user message", harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
			Body: map[string]any{"model": plainAgent, "user": "u", "messages": []map[string]any{{"role": "system", "content": "Hi"}}}},
			http.StatusBadRequest, "INVALID_REQUEST", "messages", "invalid_request_error"},
		{"an image", harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
			Body: map[string]any{"model": plainAgent, "user": "u", "messages": []map[string]any{{"role": "user",
				"content": []map[string]any{{"type": "image_url", "image_url": map[string]any{"url": "https://example.com/a.png"}}}}}}},
			http.StatusBadRequest, "INVALID_REQUEST", "messages[0].content[0].type", "invalid_request_error"},
		{"a user too long", harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
			Body: map[string]any{"model": plainAgent, "user": strings.Repeat("u", 300), "messages": []map[string]any{{"role": "user", "content": "Hi"}}}},
			http.StatusBadRequest, "INVALID_REQUEST", "user", "invalid_request_error"},
		{"not JSON", harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
			Body: "model=x", Headers: map[string]string{"Content-Type": "text/plain"}},
			http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "", "invalid_request_error"},
		{"over the rate limit", harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: limited,
			Body: completionBody("u", "Hi", false)}, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "", "rate_limit_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := app.Do(t, c.req)
			require.Equal(t, c.status, res.Status, "%s", res.Body)
			var body struct {
				Error struct {
					Code  string  `json:"code"`
					Type  string  `json:"type"`
					Param *string `json:"param"`
				} `json:"error"`
			}
			res.JSON(t, &body)
			assert.Equal(t, c.code, body.Error.Code)
			assert.Equal(t, c.typ, body.Error.Type)
			if c.param == "" {
				assert.Nil(t, body.Error.Param)
			} else if assert.NotNil(t, body.Error.Param) {
				assert.Equal(t, c.param, *body.Error.Param)
			}
		})
	}
	res := app.Do(t, cases[0].req)
	assert.Equal(t, `Bearer realm="focal"`, res.Header.Get("WWW-Authenticate"))

	// The header keys the conversation when the body has no user.
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: token,
		Headers: map[string]string{"X-Focal-User": "header-user"},
		Body:    map[string]any{"model": harness.DemoAgent, "messages": []map[string]any{{"role": "user", "content": "What time do you open on Sunday?"}}}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var done struct {
		Focal struct {
			SessionID    string   `json:"session_id"`
			MatchedRules []string `json:"matched_rules"`
		} `json:"focal"`
	}
	res.JSON(t, &done)
	assert.Equal(t, []string{"store_hours"}, done.Focal.MatchedRules)
	var session struct {
		UserChannelID string `json:"user_channel_id"`
	}
	app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + done.Focal.SessionID, Token: token}).JSON(t, &session)
	assert.Equal(t, "header-user", session.UserChannelID)
}
