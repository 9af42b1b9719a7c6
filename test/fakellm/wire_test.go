package fakellm_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
)

func TestOpenAIPlainWire(t *testing.T) {
	_, url := start(t)
	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(false, false, "hello there"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	m := decode(t, resp)

	assert.Equal(t, "chat.completion", m["object"])
	assert.Equal(t, "gpt-test", m["model"])
	assert.NotEmpty(t, m["id"])
	assert.Positive(t, num(m["created"]))
	choice := m["choices"].([]any)[0].(map[string]any)
	assert.Equal(t, "stop", choice["finish_reason"])
	msg := choice["message"].(map[string]any)
	assert.Equal(t, "assistant", msg["role"])
	assert.Equal(t, "You said: hello there", msg["content"])
	usage := m["usage"].(map[string]any)
	// "be brief" + "hello there" in, "You said: hello there" out.
	assert.Equal(t, 4, num(usage["prompt_tokens"]))
	assert.Equal(t, 4, num(usage["completion_tokens"]))
	assert.Equal(t, 8, num(usage["total_tokens"]))
}

func TestOpenAIPathWithoutV1(t *testing.T) {
	_, url := start(t)
	resp := post(t, context.Background(), url+"/chat/completions", openAIBody(false, false, "hi"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestOpenAIStreamWire(t *testing.T) {
	_, url := start(t)
	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, true, "hello there"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"))
	evs, err := readSSE(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "[DONE]", evs[len(evs)-1].Data)
	for _, ev := range evs {
		assert.Empty(t, ev.Name, "OpenAI streams carry no event lines")
	}
	chunks := jsonEvents(t, evs)

	id := chunks[0]["id"]
	for _, c := range chunks {
		assert.Equal(t, "chat.completion.chunk", c["object"])
		assert.Equal(t, id, c["id"], "every chunk shares the completion id")
		assert.Contains(t, c, "usage", "include_usage puts usage (null) on every chunk")
	}
	first := chunks[0]["choices"].([]any)[0].(map[string]any)
	assert.Equal(t, "assistant", first["delta"].(map[string]any)["role"])
	assert.Equal(t, "You said: hello there", strings.Join(openAIDeltas(chunks), ""))
	assert.Equal(t, []string{"You", " said:", " hello", " there"}, openAIDeltas(chunks))

	finish := chunks[len(chunks)-2]["choices"].([]any)[0].(map[string]any)
	assert.Equal(t, "stop", finish["finish_reason"])
	last := chunks[len(chunks)-1]
	assert.Empty(t, last["choices"])
	usage := last["usage"].(map[string]any)
	assert.Equal(t, 4, num(usage["prompt_tokens"]))
	assert.Equal(t, 4, num(usage["completion_tokens"]))
	assert.Equal(t, 8, num(usage["total_tokens"]))
	for _, c := range chunks[:len(chunks)-1] {
		assert.Nil(t, c["usage"])
	}
}

func TestOpenAIStreamWithoutIncludeUsage(t *testing.T) {
	_, url := start(t)
	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, false, "hi"))
	evs, err := readSSE(resp.Body)
	require.NoError(t, err)
	for _, c := range jsonEvents(t, evs) {
		assert.NotContains(t, c, "usage")
		assert.NotEmpty(t, c["choices"])
	}
}

func TestAnthropicPlainWire(t *testing.T) {
	_, url := start(t)
	resp := post(t, context.Background(), url+"/v1/messages", anthropicBody(false, "hello there"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Request-Id"))
	m := decode(t, resp)
	assert.Equal(t, "message", m["type"])
	assert.Equal(t, "assistant", m["role"])
	assert.Equal(t, "claude-test", m["model"])
	assert.Equal(t, "end_turn", m["stop_reason"])
	content := m["content"].([]any)[0].(map[string]any)
	assert.Equal(t, "text", content["type"])
	assert.Equal(t, "You said: hello there", content["text"])
	usage := m["usage"].(map[string]any)
	assert.Equal(t, 4, num(usage["input_tokens"]))
	assert.Equal(t, 4, num(usage["output_tokens"]))
}

func TestAnthropicStreamWire(t *testing.T) {
	_, url := start(t)
	resp := post(t, context.Background(), url+"/v1/messages", anthropicBody(true, "hello there"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"))
	evs, err := readSSE(resp.Body)
	require.NoError(t, err)
	events := jsonEvents(t, evs)

	var names []string
	for i, ev := range evs {
		names = append(names, ev.Name)
		assert.Equal(t, ev.Name, events[i]["type"], "event line matches data type")
	}
	want := []string{"message_start", "content_block_start", "ping"}
	for range 4 {
		want = append(want, "content_block_delta")
	}
	want = append(want, "content_block_stop", "message_delta", "message_stop")
	assert.Equal(t, want, names)

	start := events[0]["message"].(map[string]any)
	assert.Equal(t, 4, num(start["usage"].(map[string]any)["input_tokens"]))
	assert.Empty(t, start["content"])
	assert.Equal(t, "You said: hello there", strings.Join(anthropicDeltas(events), ""))
	md := events[len(events)-2]
	assert.Equal(t, "end_turn", md["delta"].(map[string]any)["stop_reason"])
	assert.Equal(t, 4, num(md["usage"].(map[string]any)["output_tokens"]))
}

func TestDeltasPassThroughIntact(t *testing.T) {
	deltas := []string{"Hel", "lo ", " \n", "wor\tld", "\n\n", "  "}
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: deltas}, fakellm.Reply{Deltas: deltas}, fakellm.Reply{Deltas: deltas})

	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, false, "x"))
	evs, err := readSSE(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, deltas, openAIDeltas(jsonEvents(t, evs)))

	resp = post(t, context.Background(), url+"/v1/messages", anthropicBody(true, "x"))
	evs, err = readSSE(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, deltas, anthropicDeltas(jsonEvents(t, evs)))

	resp = post(t, context.Background(), url+"/v1/chat/completions", openAIBody(false, false, "x"))
	msg := decode(t, resp)["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	assert.Equal(t, strings.Join(deltas, ""), msg["content"])
}

func TestSplitWordsRoundTrips(t *testing.T) {
	for _, s := range []string{"", " ", "a", "  lead", "trail  ", "a b\n\nc\td ", "日本 語"} {
		assert.Equal(t, s, strings.Join(fakellm.SplitWords(s), ""), "%q", s)
	}
	assert.Equal(t, []string{"a", " b", "\n\nc"}, fakellm.SplitWords("a b\n\nc"))
}

func TestEmbeddingsWire(t *testing.T) {
	_, url := start(t)
	body := map[string]any{"model": "emb", "input": []string{"the cat sat", "the cat sat", "quantum flux"}}
	m := decode(t, post(t, context.Background(), url+"/v1/embeddings", body))
	assert.Equal(t, "list", m["object"])
	data := m["data"].([]any)
	require.Len(t, data, 3)
	vec := func(i int) []float64 {
		var out []float64
		for _, x := range data[i].(map[string]any)["embedding"].([]any) {
			out = append(out, x.(float64))
		}
		return out
	}
	v0 := vec(0)
	require.Len(t, v0, 64)
	var norm float64
	for _, x := range v0 {
		norm += x * x
	}
	assert.InDelta(t, 1.0, norm, 1e-9)
	assert.Equal(t, v0, vec(1), "deterministic")
	assert.NotEqual(t, v0, vec(2))
	assert.Equal(t, 2, num(data[2].(map[string]any)["index"]))
	assert.Equal(t, 8, num(m["usage"].(map[string]any)["prompt_tokens"]))

	body = map[string]any{"model": "emb", "input": "the cat sat", "encoding_format": "base64", "dimensions": 16}
	m = decode(t, post(t, context.Background(), url+"/embeddings", body))
	raw, err := base64.StdEncoding.DecodeString(m["data"].([]any)[0].(map[string]any)["embedding"].(string))
	require.NoError(t, err)
	require.Len(t, raw, 16*4)
	want := fakellm.Embed("the cat sat", 16)
	for i := range 16 {
		got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		assert.InDelta(t, want[i], float64(got), 1e-6)
	}
}

func TestErrorShapes(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Status: 429, RetryAfter: 2 * time.Second}, fakellm.Reply{Status: 529})

	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, true, "x"))
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	assert.Equal(t, "2000", resp.Header.Get("Retry-After-Ms"))
	e := decode(t, resp)["error"].(map[string]any)
	assert.Equal(t, "rate_limit_exceeded", e["code"])
	assert.Equal(t, "requests", e["type"])
	assert.NotEmpty(t, e["message"])

	resp = post(t, context.Background(), url+"/v1/messages", anthropicBody(false, "x"))
	assert.Equal(t, 529, resp.StatusCode)
	m := decode(t, resp)
	assert.Equal(t, "error", m["type"])
	assert.Equal(t, "overloaded_error", m["error"].(map[string]any)["type"])

	resp = post(t, context.Background(), url+"/v1/nope", map[string]any{})
	assert.Equal(t, 404, resp.StatusCode)
	assert.Contains(t, decode(t, resp), "error")

	resp = post(t, context.Background(), url+"/v1/messages", "not an object")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "invalid_request_error", decode(t, resp)["error"].(map[string]any)["type"])

	resp = post(t, context.Background(), url+"/v1/chat/completions", map[string]any{"model": "m", "messages": []any{}})
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, 5, srv.Count())
}

func TestAnthropicCountTokens(t *testing.T) {
	_, url := start(t)
	m := decode(t, post(t, context.Background(), url+"/v1/messages/count_tokens", anthropicBody(false, "one two three")))
	assert.Equal(t, 5, num(m["input_tokens"]))
}
